import pytest

from traffic_lam.errors import SignalError
from traffic_lam.signals.phases import all_red_state, green_phases, is_green_phase, yellow_state

GRID_PROGRAM = [
    "GGGrrrGGGrrr",
    "yyyrrryyyrrr",
    "rrrGGGrrrGGG",
    "rrryyyrrryyy",
    "GGGrrrGGGrrr",  # duplicate of the first green
]


def test_greens_skip_yellow_and_duplicates():
    assert green_phases(GRID_PROGRAM, "J") == ("GGGrrrGGGrrr", "rrrGGGrrrGGG")


def test_transition_phases_with_green_and_yellow_are_not_greens():
    # RESCO grid4x4 has 'sssrrrGGG...rrryyy...' : some links keep green while others turn yellow
    assert not is_green_phase("sssrrrGGGyyy")
    assert not is_green_phase("rrrrrr")  # all red
    assert not is_green_phase("rrruuu")  # red-yellow
    assert is_green_phase("sssGgg")


def test_all_red_and_stop_phases_are_dropped():
    program = ["GGrr", "yyrr", "rrrr", "rrGG", "rryy", "ssss"]
    assert green_phases(program, "J") == ("GGrr", "rrGG")


def test_single_green_cannot_be_controlled():
    with pytest.raises(SignalError, match=r"traffic light 'J'.*1 distinct green"):
        green_phases(["GGGG", "yyyy", "rrrr"], "J")


def test_empty_and_ragged_programs_raise():
    with pytest.raises(SignalError, match="no phases"):
        green_phases([], "J")
    with pytest.raises(SignalError, match="different lengths"):
        green_phases(["GGr", "rrGG"], "J")


def test_yellow_only_on_links_that_lose_green():
    assert yellow_state("GGgrrs", "rGGGrr") == "yGgrrs"


def test_all_red_keeps_links_green_in_both_and_off_links():
    assert all_red_state("GGgrrO", "rGGGrO") == "rGgrrO"
