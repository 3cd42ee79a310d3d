"""Scoring pieces on small hand-written SUMO outputs: tripinfo, statistics, SSM, yellow realism."""

import pytest

from traffic_lam.errors import SimulationError
from traffic_lam.metrics import EpisodeRecord, SSMSettings, read_ssm, read_statistics, read_tripinfo, yellow_warnings
from traffic_lam.metrics.ssm import edge_selection
from traffic_lam.signals import SignalLayout

TRIPINFO = """<?xml version="1.0" encoding="UTF-8"?>
<!-- generated on 2026-01-01 by Eclipse SUMO sumo 1.28.0
-->
<tripinfos>
    <tripinfo id="a" depart="10.00" departDelay="2.00" arrival="60.00" duration="50.00" waitingTime="5.00"
              timeLoss="20.00" vaporized=""/>
    <tripinfo id="b" depart="20.00" departDelay="0.00" arrival="-1.00" duration="80.00" waitingTime="30.00"
              timeLoss="40.00" vaporized="end"/>
    <tripinfo id="c" depart="-1" departDelay="70.00" arrival="-1.00" duration="0.00" waitingTime="0.00"
              timeLoss="0.00" vaporized="end"/>
</tripinfos>
"""


def test_tripinfo_summary_follows_the_resco_definitions(tmp_path):
    path = tmp_path / "t.xml"
    path.write_text(TRIPINFO)
    s = read_tripinfo(path)
    assert (s.vehicles, s.arrived, s.running, s.not_inserted, s.inserted) == (3, 1, 1, 1, 2)
    assert s.avg_delay == pytest.approx((22 + 40 + 70) / 3)  # timeLoss + departDelay, every vehicle
    assert s.avg_travel_time == pytest.approx((52 + 80 + 70) / 3)  # duration + departDelay
    assert s.avg_waiting_time == pytest.approx((5 + 30) / 2)  # departed vehicles only
    assert s.sumo_version == "1.28.0"


def test_empty_and_broken_tripinfo(tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_text("<tripinfos/>")
    s = read_tripinfo(empty)
    assert s.vehicles == 0 and s.avg_delay is None
    broken = tmp_path / "broken.xml"
    broken.write_text("<tripinfos><tripinfo id='a'")
    with pytest.raises(SimulationError, match="cannot read SUMO tripinfo"):
        read_tripinfo(broken)


def test_statistics_safety(tmp_path):
    path = tmp_path / "s.xml"
    path.write_text(
        '<statistics><vehicles loaded="10" inserted="8" running="1" waiting="2"/>'
        '<teleports total="3" jam="0" yield="0" wrongLane="0"/>'
        '<safety collisions="3" emergencyStops="1" emergencyBraking="17"/></statistics>'
    )
    s = read_statistics(path)
    assert (s.collisions, s.emergency_stops, s.emergency_braking, s.teleports, s.loaded, s.inserted) == (
        3,
        1,
        17,
        3,
        10,
        8,
    )


def test_ssm_counts_each_measure_against_its_threshold(tmp_path):
    path = tmp_path / "ssm.xml"
    path.write_text(
        "<SSMLog>"
        '<conflict begin="1" end="2" ego="a" foe="b">'
        '<minTTC time="1" type="11" value="1.07"/><maxDRAC time="1" type="11" value="3.92"/>'
        '<PET time="NA" type="NA" value="NA"/></conflict>'
        '<conflict begin="5" end="6" ego="c" foe="d">'
        '<minTTC time="NA" type="NA" value="NA"/><maxDRAC time="5" type="4" value="1.0"/>'
        '<PET time="5" type="4" value="0.5"/></conflict>'
        "</SSMLog>"
    )
    counts = read_ssm(path, SSMSettings())
    assert (counts.conflicts, counts.ttc, counts.drac, counts.pet) == (2, 1, 1, 1)
    assert read_ssm(path, SSMSettings(ttc=1.0, drac=4.0, pet=0.4)).ttc == 0
    assert edge_selection(["a", ":J_0"]) == "edge:a\nedge::J_0\n"


def test_ssm_settings_validate():
    from traffic_lam.errors import ConfigError

    with pytest.raises(ConfigError, match="ssm ttc"):
        SSMSettings(ttc=-1)
    assert "--device.ssm.thresholds" in SSMSettings().sumo_options("o.xml", "e.txt")


def _layout(states, durations, speed=13.89):
    return SignalLayout(
        id="J",
        greens=tuple(s for s in states if "y" not in s and any(c in "Gg" for c in s)),
        program_states=tuple(states),
        program_durations=tuple(durations),
        in_lanes=("a_0", "b_0"),
        out_lanes=("c_0", "d_0"),
        links=((0, 0, 0), (1, 1, 1)),
        in_capacity=(10.0, 10.0),
        out_capacity=(10.0, 10.0),
        in_speed=(speed, speed),
    )


def test_yellow_realism_under_agent_and_program_control():
    layout = _layout(["Gr", "yr", "rG", "ry"], [30, 3, 30, 3])
    # agent control: every transition gets yellow_time; 13.89 m/s needs 13.89 / 6 = 2.3 s
    assert yellow_warnings({"J": layout}, yellow_time=3) == []
    (warning,) = yellow_warnings({"J": layout}, yellow_time=2)
    assert "signal 'J'" in warning and "yellow 2 s" in warning and "2.3 s" in warning
    assert "no yellow" in yellow_warnings({"J": layout}, yellow_time=0)[0]
    # program control: the program's own yellows count
    assert yellow_warnings({"J": layout}, yellow_time=None) == []
    short = _layout(["Gr", "yr", "rG", "ry"], [30, 1, 30, 3])
    assert "yellow 1 s on link 0" in yellow_warnings({"J": short}, yellow_time=None)[0]
    straight_to_red = _layout(["Gr", "rG", "ry"], [30, 30, 3])
    assert "no yellow" in yellow_warnings({"J": straight_to_red}, yellow_time=None)[0]
    slow = _layout(["Gr", "yr", "rG", "ry"], [30, 1, 30, 1], speed=5.0)
    assert yellow_warnings({"J": slow}, yellow_time=None) == []


def test_episode_record_row_is_flat_and_ordered():
    values = {name: 0 for name in EpisodeRecord.columns()}
    values.update(controller="greedy", network="grid2x2", control="agents", tripinfo_file=None, ssm_ttc=None)
    row = EpisodeRecord(**values).to_row()
    assert list(row) == EpisodeRecord.columns()
    assert all(v is None or isinstance(v, (str, int, float)) for v in row.values())
    for name in ("throughput_per_h", "avg_delay", "ssm_ttc", "ssm_drac", "ssm_pet", "yellow_warnings"):
        assert name in row
