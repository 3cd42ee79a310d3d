"""``traffic-lam import-osm``: the committed Helsinki extract, PBF input, bad inputs, routes from edge counts."""

import gzip
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from pettingzoo.test import parallel_api_test

import traffic_lam
from traffic_lam.cli import main
from traffic_lam.osm.convert import read_edges
from traffic_lam.sim.network import bundled_networks

EXTRACT = bundled_networks()["helsinki"] / "helsinki.osm.xml.gz"
OSM_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
TWO_NODES = (
    '<node id="1" lat="60.1700" lon="24.9400" version="1"/>\n<node id="2" lat="60.1710" lon="24.9420" version="1"/>\n'
    '<node id="3" lat="60.1720" lon="24.9440" version="1"/>\n'
)


def _way(highway: str) -> str:
    return f'<way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="{highway}"/></way>\n'


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("osm") / "helsinki"
    assert main(["import-osm", str(EXTRACT), "--out", str(out), "--seed", "1"]) == 0
    return out


def test_import_of_the_committed_extract_runs_and_passes_the_parallel_api(imported, capsys):
    assert {p.name for p in imported.iterdir()} == {
        "helsinki.net.xml", "helsinki.rou.xml", "helsinki.sumocfg", "network.yaml", "README.md"
    }  # fmt: skip
    assert "OpenStreetMap contributors" in (imported / "README.md").read_text()
    assert "Open Database License" in (imported / "README.md").read_text()
    env = traffic_lam.make_env(str(imported), end_time=300)
    try:
        assert len(env.possible_agents) >= 3
        parallel_api_test(env, num_cycles=100)
    finally:
        env.close()


def test_medium_demand_does_not_jam_and_the_report_follows(tmp_path, capsys):
    out = tmp_path / "centre"
    assert main(["import-osm", str(EXTRACT), "--out", str(out), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    demand_line = next(line for line in printed.splitlines() if line.startswith("demand medium"))
    assert "0 never inserted, 0 teleports" in demand_line and "no lock, no jam" in demand_line
    assert "calibration:" in printed and "JAMS" in printed  # the sweep went up to a demand that jams
    assert "controlled signals:" in printed  # the check-network report of the new folder
    assert not list(tmp_path.glob(".centre.importing-*"))


def test_pbf_input_is_converted_with_osmium(tmp_path):
    osmium = pytest.importorskip("osmium")
    pbf = tmp_path / "centre.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(EXTRACT)):
            writer.add(obj)
    out = tmp_path / "frompbf"
    assert main(["import-osm", str(pbf), "--out", str(out), "--demand", "300"]) == 0
    assert (out / "frompbf.net.xml").is_file() and (out / "frompbf.rou.xml").is_file()


def _refused(tmp_path, capsys, source: Path, *extra: str) -> str:
    out = tmp_path / "refused"
    assert main(["import-osm", str(source), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob(".refused*"))
    return err


def test_empty_file_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.osm"
    empty.write_text("")
    assert "empty file" in _refused(tmp_path, capsys, empty)


def test_not_osm_is_one_line(tmp_path, capsys):
    text = tmp_path / "notes.osm"
    text.write_text("just some text\n")
    assert "not XML" in _refused(tmp_path, capsys, text)
    sumo_net = tmp_path / "net.osm"
    sumo_net.write_text('<?xml version="1.0"?>\n<net version="1.20"></net>\n')
    assert "SUMO network" in _refused(tmp_path, capsys, sumo_net)


def test_no_roads_is_one_line(tmp_path, capsys):
    footway = tmp_path / "footway.osm"
    footway.write_text(OSM_HEAD + TWO_NODES + _way("footway") + "</osm>\n")
    assert "no roads cars use" in _refused(tmp_path, capsys, footway)


def test_no_signals_is_one_line(tmp_path, capsys):
    road = tmp_path / "road.osm"
    with gzip.open(EXTRACT, "rt") as stream:  # the committed extract with every signal tag taken out
        road.write_text(re.sub(r'<tag k="[^"]*" v="traffic_signals[^"]*"\s*/>', "", stream.read()))
    assert "no traffic signals" in _refused(tmp_path, capsys, road)


def test_truncated_pbf_is_one_line(tmp_path, capsys):
    osmium = pytest.importorskip("osmium")
    pbf = tmp_path / "whole.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(EXTRACT)):
            writer.add(obj)
    truncated = tmp_path / "cut.osm.pbf"
    truncated.write_bytes(pbf.read_bytes()[: pbf.stat().st_size // 2])
    assert "truncated or corrupt" in _refused(tmp_path, capsys, truncated)


def test_truncated_gzip_is_one_line(tmp_path, capsys):
    cut = tmp_path / "cut.osm.gz"
    cut.write_bytes(EXTRACT.read_bytes()[:40])
    _refused(tmp_path, capsys, cut)


def test_bad_demand_is_one_line(tmp_path, capsys):
    assert "--demand" in _refused(tmp_path, capsys, EXTRACT, "--demand", "lots")


def _passages(routes: Path) -> Counter:
    """Vehicles entering each edge per departure interval of 600 s, from a routes file."""
    root = ET.parse(routes).getroot()
    named = {r.get("id"): r.get("edges") for r in root.iter("route") if r.get("id")}
    seen: Counter = Counter()
    for vehicle in root.iter("vehicle"):
        route = vehicle.find("route")
        edges = route.get("edges") if route is not None else named[vehicle.get("route")]
        for edge in edges.split():
            seen[edge, int(float(vehicle.get("depart")) // 600)] += 1
    return seen


def test_routes_from_edge_counts_reproduce_the_counts(imported, tmp_path):
    edges = sorted(read_edges(imported / "helsinki.net.xml"))
    counted = sorted(set(edges) & {e for r in ET.parse(imported / "helsinki.rou.xml").getroot().iter("route")
                                   for e in r.get("edges").split()})[:4]  # fmt: skip
    wanted = {(edge, k): 10 + 5 * n + 10 * k for n, edge in enumerate(counted) for k in (0, 1)}
    csv = tmp_path / "counts.csv"
    rows = "".join(f"{e},{600 * k},{600 * (k + 1)},{c}\n" for (e, k), c in wanted.items())
    csv.write_text("edge,begin,end,count\n" + rows)
    out = tmp_path / "counted"
    assert main(["import-osm", str(EXTRACT), "--out", str(out), "--counts", str(csv)]) == 0
    seen = _passages(out / "counted.rou.xml")
    for key, count in wanted.items():
        # routeSampler's tolerance: the GEH statistic under 5 for every counted edge and interval
        geh = (2 * (seen[key] - count) ** 2 / (seen[key] + count)) ** 0.5
        assert geh < 5, (key, count, seen[key])


def test_counts_naming_an_unknown_edge_is_one_line(tmp_path, capsys):
    csv = tmp_path / "counts.csv"
    csv.write_text("edge,begin,end,count\nnot-an-edge,0,600,10\n")
    assert "not an edge" in _refused(tmp_path, capsys, EXTRACT, "--counts", str(csv))


def test_bundled_helsinki_runs_by_name():
    env = traffic_lam.make_env("helsinki", end_time=120)
    try:
        env.reset(seed=1)
        assert len(env.possible_agents) == 7
    finally:
        env.close()


def test_committed_extract_is_small_osm_xml():
    assert EXTRACT.stat().st_size < 300_000
    with gzip.open(EXTRACT, "rt") as stream:
        assert "<osm" in stream.read(500)


def test_relative_paths_work_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "centre.osm.xml.gz").write_bytes(EXTRACT.read_bytes())
    assert main(["import-osm", "maps/centre.osm.xml.gz", "--out", "nets/centre", "--demand", "300"]) == 0
    assert (tmp_path / "nets" / "centre" / "centre.rou.xml").is_file()
