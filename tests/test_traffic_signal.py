import numpy as np
import pytest

from traffic_lam.errors import ConfigError
from traffic_lam.signals import SignalLayout, SignalTiming, TrafficSignal


def layout(greens=("GGrr", "rrGG", "GrGr")) -> SignalLayout:
    return SignalLayout(
        id="J",
        greens=tuple(greens),
        program_states=tuple(greens),
        program_durations=(30.0,) * len(greens),
        in_lanes=("a_0", "b_0"),
        out_lanes=("c_0", "d_0"),
        links=((0, 0, 0), (1, 0, 1), (2, 1, 0), (3, 1, 1)),
        in_capacity=(10.0, 10.0),
        out_capacity=(10.0, 10.0),
        in_speed=(13.9, 13.9),
    )


def signal(**timing) -> TrafficSignal:
    sig = TrafficSignal(layout(), SignalTiming(**timing))
    sig.reset(now=0.0)
    return sig


def test_yellow_inserted_on_change_then_target_green():
    sig = signal(delta_time=5, yellow_time=2, min_green=5)
    sig.now = 10.0
    changes = sig.request(1)
    assert changes == [(10.0, "yyrr"), (12.0, "rrGG")]
    assert sig.green == 1
    assert sig.green_since == 12.0


def test_all_red_follows_yellow():
    sig = signal(delta_time=10, yellow_time=3, all_red_time=2, min_green=0)
    sig.now = 20.0
    assert sig.request(1) == [(20.0, "yyrr"), (23.0, "rrrr"), (25.0, "rrGG")]


def test_green_kept_in_both_phases_has_no_yellow():
    sig = signal(min_green=0)
    sig.now = 10.0
    # GGrr -> GrGr: link 0 stays green, link 1 loses green
    assert sig.request(2)[0] == (10.0, "Gyrr")


def test_same_action_keeps_green_without_transition():
    sig = signal(min_green=0)
    sig.now = 10.0
    assert sig.request(0) == []
    assert sig.green_since == 0.0


def test_min_green_is_held_and_corrected():
    sig = signal(delta_time=5, yellow_time=2, min_green=10)
    sig.now = 5.0
    assert sig.action_mask().tolist() == [1, 0, 0]
    assert sig.request(1) == []
    assert sig.corrected
    assert sig.green == 0
    sig.now = 10.0
    assert sig.action_mask().tolist() == [1, 1, 1]
    assert sig.request(1)
    assert not sig.corrected
    # the new green starts after the yellow: min green counts from t=12
    sig.now = 15.0
    assert sig.action_mask().tolist() == [0, 1, 0]
    sig.now = 22.0
    assert sig.action_mask().tolist() == [1, 1, 1]


def test_max_green_forces_a_change():
    sig = signal(delta_time=5, yellow_time=2, min_green=5, max_green=20)
    sig.now = 20.0
    assert sig.action_mask().tolist() == [0, 1, 1]
    changes = sig.request(0)  # keeping the green is not allowed any more
    assert sig.corrected
    assert sig.green == 1
    assert changes[-1] == (22.0, "rrGG")


def test_max_green_keeps_a_lone_green_allowed():
    sig = TrafficSignal(layout(greens=("GGGG",)), SignalTiming(delta_time=5, yellow_time=2, min_green=5, max_green=20))
    sig.reset(now=0.0)
    sig.now = 40.0
    assert sig.action_mask().tolist() == [1]  # nothing to switch to: never an empty mask


def test_out_of_range_action_raises():
    sig = signal()
    with pytest.raises(ValueError, match="signal 'J': action 7"):
        sig.request(7)


@pytest.mark.parametrize(
    "timing, message",
    [
        ({"delta_time": 5, "yellow_time": 5}, "must be shorter than delta_time"),
        ({"min_green": 30, "max_green": 10}, "max_green"),
        ({"delta_time": 2.5}, "whole number"),
        ({"delta_time": 0}, "delta_time"),
        ({"yellow_time": -1}, ">= 0"),
    ],
)
def test_impossible_timings_are_refused(timing, message):
    with pytest.raises(ConfigError, match=message):
        SignalTiming(**timing)


def test_pressure_per_green():
    sig = signal()
    # measurements are read lazily from a fetch function over [in lanes..., out lanes...]
    from traffic_lam.signals.traffic_signal import LaneMeasurements

    values = {"vehicles": np.array([5.0, 0.0, 1.0, 2.0])}
    sig.lanes = LaneMeasurements(lambda q: values[q], np.array([0, 1]), np.array([2, 3]))
    # green 0 = links 0,1 from lane a (5/10) to c (1/10) and d (2/10): 0.4 + 0.3
    assert sig.pressure_per_green()[0] == pytest.approx(0.7)
    # green 1 = links 2,3 from lane b (0) to c, d: -0.1 - 0.2
    assert sig.pressure_per_green()[1] == pytest.approx(-0.3)


def test_staleness_ranks_greens_by_when_they_last_showed():
    sig = signal(delta_time=5, yellow_time=2, min_green=0)
    # nothing shown but green 0: the others by index (lower first: served first on a tie)
    assert sig.staleness().tolist() == [0.0, 1.0, 0.5]
    sig.now = 10.0
    sig.request(2)  # green 0 stops showing at 10
    assert sig.staleness().tolist() == [0.5, 1.0, 0.0]
    sig.now = 20.0
    sig.request(1)  # green 2 stops showing at 20: green 0 is now the one shown longest ago
    assert sig.staleness().tolist() == [1.0, 0.0, 0.5]
    sig.reset(now=30.0)
    assert sig.staleness().tolist() == [0.0, 1.0, 0.5]
