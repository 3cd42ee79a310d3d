import subprocess
from pathlib import Path

import pytest

from traffic_lam.errors import NetworkError, SignalError
from traffic_lam.signals import read_signal_layouts
from traffic_lam.sim.discovery import sumo_binary
from traffic_lam.sim.network import RESCO_MAPS, bundled_networks, resolve_network

BUNDLED = ("single-intersection", "grid2x2", "grid4x4", "arterial4x4")


def test_bundled_networks_are_found():
    assert set(BUNDLED) <= set(bundled_networks())
    spec = resolve_network("grid2x2")
    assert spec.net_file.name == "grid2x2.net.xml"
    assert spec.begin == 0 and spec.end == 3600


@pytest.mark.parametrize("name", RESCO_MAPS)
def test_resco_maps_take_times_from_sumocfg(name):
    spec = resolve_network(f"resco:{name}")
    expected = {"cologne": 25200, "ingolstadt": 57600}
    begin = next((v for k, v in expected.items() if name.startswith(k)), 0)
    assert spec.begin == begin
    assert spec.end == begin + 3600
    assert spec.route_files


def test_folder_sumocfg_and_net_with_routes(tmp_path):
    spec = resolve_network("resco:cologne3")
    assert resolve_network(spec.net_file.parent).begin == 25200  # folder with one .sumocfg
    assert resolve_network(spec.net_file.with_name("cologne3.sumocfg")).end == 28800
    bare = resolve_network(spec.net_file, route_file=spec.route_files[0])
    assert bare.begin is None and bare.route_files == spec.route_files


def test_unknown_network_names_the_choices():
    with pytest.raises(NetworkError, match=r"network 'nowhere' not found.*grid2x2"):
        resolve_network("nowhere")
    with pytest.raises(NetworkError, match="unknown RESCO map 'paris'"):
        resolve_network("resco:paris")


def test_net_without_routes_is_refused():
    spec = resolve_network("resco:cologne1")
    with pytest.raises(NetworkError, match="has no routes"):
        resolve_network(spec.net_file)


def test_bad_network_yaml_names_file_and_key(tmp_path):
    (tmp_path / "network.yaml").write_text("net_file: x.net.xml\nspeed: 3\n")
    with pytest.raises(NetworkError, match=r"network.yaml: unknown key 'speed'"):
        resolve_network(tmp_path)


@pytest.fixture(scope="module")
def priority_net(tmp_path_factory) -> Path:
    """A 2x2 grid whose junctions are all priority (no traffic lights)."""
    out = tmp_path_factory.mktemp("net") / "plain.net.xml"
    subprocess.run(
        [
            sumo_binary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--default-junction-type",
            "priority",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def test_network_without_traffic_lights_is_a_clear_error(priority_net):
    with pytest.raises(NetworkError, match="has no traffic lights to control"):
        read_signal_layouts(priority_net)


def test_signal_with_one_green_is_skipped_or_refused(tmp_path):
    out = tmp_path / "one.net.xml"
    subprocess.run(
        [
            sumo_binary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--grid.attach-length",
            "100",
            "--tls.set",
            "A0,A1,B0,B1",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    text = out.read_text()
    # Rewrite one light's program so every phase shows the same green
    import re

    match = re.search(r'<tlLogic id="([^"]+)"[^>]*>(.*?)</tlLogic>', text, re.S)
    assert match
    tls_id, body = match.group(1), match.group(2)
    first_state = re.search(r'state="([^"]+)"', body).group(1)
    green = "G" * len(first_state)
    new_body = re.sub(r'state="[^"]+"', f'state="{green}"', body)
    out.write_text(text[: match.start(2)] + new_body + text[match.end(2) :])
    with pytest.warns(UserWarning, match=f"traffic light '{tls_id}'.*keeps its own program"):
        layouts = read_signal_layouts(out)
    assert tls_id not in layouts and layouts
    with pytest.raises(SignalError, match=f"traffic light '{tls_id}': program has 1 distinct green"):
        read_signal_layouts(out, only=(tls_id,))


@pytest.mark.parametrize("name", ["resco:cologne3", "resco:ingolstadt21"])
def test_heterogeneous_signals_have_their_own_phases(name):
    spec = resolve_network(name)
    layouts = read_signal_layouts(spec.net_file)
    assert len({(lay.num_greens, len(lay.in_lanes)) for lay in layouts.values()}) > 1
    for lay in layouts.values():
        assert lay.num_greens >= 2
        for state in lay.greens:
            assert "y" not in state


def test_neighbours_are_found_through_unsignalised_junctions():
    grid = read_signal_layouts(resolve_network("grid4x4").net_file)
    counts = sorted(len(lay.neighbours) for lay in grid.values())
    assert counts == [2] * 4 + [3] * 8 + [4] * 4  # corners, edges, interior of a 4x4 grid
    cologne3 = read_signal_layouts(resolve_network("resco:cologne3").net_file)
    assert sorted(len(lay.neighbours) for lay in cologne3.values()) == [1, 1, 2]  # a chain of three
    for lay in cologne3.values():
        for other in lay.neighbours:
            assert lay.id in cologne3[other].neighbours
