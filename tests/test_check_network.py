"""check-network names every problem a user could hit before training, one line each; non-networks exit 2."""

import re
import shutil
from pathlib import Path

import pytest

from traffic_lam.cli import main
from traffic_lam.diagnostics import check_network
from traffic_lam.errors import NetworkError
from traffic_lam.sim.network import bundled_networks, resolve_network

SINGLE = "single-intersection"


def _copy(tmp_path: Path, name: str = SINGLE) -> Path:
    """A bundled network's net and routes in a bare folder (no network.yaml): city.net.xml, city.rou.xml."""
    source = bundled_networks()[name]
    folder = tmp_path / "city"
    folder.mkdir()
    shutil.copy(source / f"{name}.net.xml", folder / "city.net.xml")
    shutil.copy(source / f"{name}.rou.xml", folder / "city.rou.xml")
    return folder


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def _problems(folder: Path) -> list[str]:
    return [p.line() for p in check_network(resolve_network(folder)).problems]


def _run(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(["check-network", *argv])
    return code, capsys.readouterr().out.splitlines()


def test_the_clean_bundled_network_has_no_problems(capsys):
    code, lines = _run(capsys, SINGLE)
    assert code == 0 and lines[-1] == "  no problems found"
    assert not any(line.startswith(("  error:", "  warning:")) for line in lines)


def test_leftover_trips_beside_routes_are_named_and_an_error(tmp_path, capsys):
    folder = _copy(tmp_path)
    shutil.copy(folder / "city.rou.xml", folder / "trips.trips.xml")
    code, lines = _run(capsys, str(folder))
    assert code == 1
    routes = next(line for line in lines if line.startswith("  routes (2 files"))
    assert "city.rou.xml" in routes and "trips.trips.xml" in routes  # which files the folder picked up
    (error,) = [line for line in lines if line.startswith("  error:")]
    assert "appear in each of city.rou.xml, trips.trips.xml" in error and "'veh0'" in error
    assert "trips.trips.xml looks like randomTrips' leftover" in error
    assert lines[-1] == "  1 problem found (1 error, 0 warnings)"


def test_trips_beside_routes_with_other_ids_are_a_warning(tmp_path, capsys):
    folder = _copy(tmp_path)
    (folder / "trips.trips.xml").write_text(
        '<routes><trip id="t0" depart="0" from="left0A0" to="A0right0"/></routes>\n'
    )
    code, lines = _run(capsys, str(folder))
    assert code == 0
    (warning,) = [line for line in lines if line.startswith("  warning:")]
    assert warning.startswith("  warning: both trips.trips.xml and city.rou.xml are loaded: ")


def test_an_id_twice_in_one_file_is_an_error(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "city.rou.xml", 'id="veh1"', 'id="veh0"')
    (problem,) = _problems(folder)
    assert problem.startswith("error: 1 vehicle id(s) appear twice in city.rou.xml, e.g. 'veh0'")


def test_routes_with_a_gap_or_an_unknown_edge_are_errors(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "city.rou.xml", 'edges="left0A0 A0bottom0"', 'edges="left0A0 bottom0A0"')
    (problem,) = _problems(folder)
    assert problem == (
        "error: city.rou.xml: 1 route(s) SUMO cannot drive, e.g. route 'veh0': "
        "no connection from edge 'left0A0' to 'bottom0A0'"
    )
    _edit(folder / "city.rou.xml", 'edges="left0A0 bottom0A0"', 'edges="left0A0 nowhere"')
    assert "edge 'nowhere' is not in the network" in _problems(folder)[0]


def test_a_signal_no_route_passes_is_a_warning(tmp_path, capsys):
    folder = _copy(tmp_path)
    (folder / "city.rou.xml").write_text(
        '<routes><vehicle id="v" depart="0"><route edges="A0bottom0"/></vehicle></routes>\n'
    )
    code, lines = _run(capsys, str(folder))
    assert code == 0  # a warning: the network still loads
    assert "  warning: 1 signal(s) no route, flow or trip passes: 'A0';" in "\n".join(lines)


def test_an_unrouted_trip_counts_along_its_shortest_path(tmp_path):
    folder = _copy(tmp_path, "grid2x2")
    # From a fringe edge of A0 to one of B1: the path crosses A0 and B1 and one of A1, B0
    (folder / "city.rou.xml").write_text('<routes><trip id="t" depart="0" from="left0A0" to="B1right1"/></routes>\n')
    (problem,) = _problems(folder)
    unpassed = re.findall(r"'(\w+)'", problem)
    assert problem.startswith("warning: 1 signal(s) no route") and unpassed in (["A1"], ["B0"])
    (folder / "city.rou.xml").write_text('<routes><trip id="t" depart="0" from="B1right1" to="left0A0"/></routes>\n')
    (problem, _) = _problems(folder)  # B1right1 leaves the map: no path back
    assert problem == (
        "error: city.rou.xml: 1 route(s) SUMO cannot drive, e.g. trip 't': "
        "no path for passenger cars from edge 'B1right1' to 'left0A0'"
    )


def test_a_one_second_yellow_is_a_warning(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "city.net.xml", 'duration="3"  state="yygrrryygrrr"', 'duration="1"  state="yygrrryygrrr"')
    (problem,) = _problems(folder)
    assert problem.startswith("warning: signal 'A0': yellow 1 s on link")


def test_a_state_shorter_than_the_links_is_an_error(tmp_path, capsys):
    folder = _copy(tmp_path)
    net = folder / "city.net.xml"
    net.write_text(re.sub(r'(<phase [^>]*state="[^"]+)."', r'\1"', net.read_text()))
    code, lines = _run(capsys, str(folder))
    assert code == 1
    expected = "state length 11 but the light controls 12 links; SUMO refuses it"
    assert f"  error: traffic light 'A0' (programID '0' in city.net.xml): {expected}" in lines


def test_phases_of_different_lengths_and_a_program_without_green(tmp_path):
    folder = _copy(tmp_path)
    net = folder / "city.net.xml"
    _edit(net, 'state="yygrrryygrrr"', 'state="yygrrryygrrrr"')
    assert any("phases have different state lengths [12, 13]" in p for p in _problems(folder))
    _edit(net, 'state="yygrrryygrrrr"', 'state="yygrrryygrrr"')
    phase = re.compile(r'(<phase [^>]*state=")([^"]+)"')
    net.write_text(phase.sub(lambda m: m.group(1) + re.sub("[Gg]", "r", m.group(2)) + '"', net.read_text()))
    problems = _problems(folder)
    assert any(p.startswith("warning: traffic light 'A0'") and "no phase shows a green" in p for p in problems)
    assert not any(p.startswith("warning:") and "distinct green phase" in p for p in problems)  # said once
    assert any(p.startswith("error:") and "none of the 1 traffic lights can be controlled" in p for p in problems)


def test_a_signal_with_one_green_is_still_a_warning(tmp_path):
    folder = _copy(tmp_path, "grid2x2")
    net = folder / "city.net.xml"
    text = net.read_text()
    logic = re.search(r'<tlLogic id="A0".*?</tlLogic>', text, re.S).group(0)
    width = len(re.search(r'state="([^"]+)"', logic).group(1))
    net.write_text(text.replace(logic, re.sub(r'state="[^"]+"', f'state="{"G" * width}"', logic)))
    problems = _problems(folder)
    assert any(p.startswith("warning: traffic light 'A0': program has 1 distinct green") for p in problems)


def test_a_lane_two_signals_control_is_a_warning(tmp_path):
    folder = _copy(tmp_path, "grid2x2")
    net = folder / "city.net.xml"
    text = net.read_text()
    line = re.search(r'<connection from="A0A1" [^>]*tl="A1" linkIndex="8"[^>]*/>', text).group(0)
    net.write_text(text.replace(line, line.replace('tl="A1"', 'tl="B1"')))  # A0A1_0 keeps links of A1
    problems = _problems(folder)
    assert any(p.startswith("warning: lane(s) 'A0A1_0' controlled by 2 signals ('A1', 'B1')") for p in problems), (
        problems
    )


def test_simulate_warns_when_the_demand_jams(tmp_path, capsys):
    folder = _copy(tmp_path)
    (folder / "city.rou.xml").write_text(
        '<routes><flow id="f" begin="0" end="120" vehsPerHour="7200" departLane="0">'
        '<route edges="left0A0 A0right0"/></flow></routes>\n'
    )
    (folder / "network.yaml").write_text("net_file: city.net.xml\nroute_files: [city.rou.xml]\nbegin: 0\nend: 120\n")
    code, lines = _run(capsys, str(folder), "--simulate")
    assert code == 0
    assert any(line.startswith("  simulated under its own programs (fixed-time): ") for line in lines)
    jam = [line for line in lines if line.startswith("  warning: demand jams under the network's own programs: ")]
    assert len(jam) == 1 and "never inserted" in jam[0]


def test_without_simulate_nothing_runs(tmp_path, capsys):
    code, lines = _run(capsys, SINGLE)
    assert code == 0 and not any("simulated" in line for line in lines)


OSM = '<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="50" lon="7"/></osm>\n'


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "x.osm",
            OSM,
            r"x\.osm: an OpenStreetMap file, not a SUMO network: run traffic-lam import-osm .*x\.osm "
            r"--out networks/x$",
        ),
        ("x.net.xml", OSM, r"x\.net\.xml: an OpenStreetMap file, not a SUMO network: run traffic-lam import-osm"),
        ("x.osm.pbf", b"\x00\x00\x00\x0d\x0a\x09OSMHeader\x18", r"an OpenStreetMap extract \(compressed or PBF\)"),
        ("x.osm.bz2", b"BZh91AY&SY", r"an OpenStreetMap extract \(compressed or PBF\).*import-osm"),
        ("empty.net.xml", "", r"empty\.net\.xml: the file is empty, not a SUMO network$"),
        ("routes.net.xml", "<routes/>\n", r"a <routes> XML file, not a SUMO network"),
        ("text.net.xml", "hello\n", r"not XML, so not a SUMO network"),
    ],
)
def test_a_file_that_is_not_a_network_gets_one_line_and_exit_2(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    assert main(["check-network", str(path), "--route-file", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert re.search(expected, captured.err.strip()), captured.err


def test_a_truncated_network_and_a_folder_of_osm_are_refused(tmp_path):
    folder = _copy(tmp_path)
    net = folder / "city.net.xml"
    text = net.read_text()
    net.write_text(text[: len(text) // 2])
    with pytest.raises(NetworkError, match=r"city\.net\.xml: a SUMO network cut short \(no closing </net>"):
        resolve_network(folder)
    osm_only = tmp_path / "town"
    osm_only.mkdir()
    (osm_only / "town.osm").write_text(OSM)
    with pytest.raises(NetworkError, match=r"town\.osm: an OpenStreetMap file.*--out networks/town$"):
        resolve_network(osm_only)
