"""Terminal output that fits: a 100-column summary, one-line warnings, check-network that says what it found."""

import warnings

import pytest

from traffic_lam.cli import main
from traffic_lam.metrics import METRICS, Metric
from traffic_lam.report.summary import plural, short_labels
from traffic_lam.report.terminal import TERMINAL_COLUMNS, terminal_summary

LABELS = ("fixed-time", "actuated", "max-pressure", "greedy", "batched-q")


def rows(prefix=""):
    """Three episodes per quickstart controller, with the spread of a real run."""
    out = []
    for k, label in enumerate(LABELS):
        for seed in range(3):
            out.append({
                "controller": prefix + label, "avg_delay": 31.0 + 5 * k + seed * 1.3, "avg_travel_time": 56.3 + k,
                "avg_waiting_time": 20.5 + seed, "throughput_per_h": 2554.7 - 11 * seed, "avg_queue": 14.2 + k,
                "collisions": float(seed == 1 and k == 2), "emergency_stops": 0, "emergency_braking": int(seed == 2),
                "teleports": 0, "vehicles_inserted": 1327, "vehicles_arrived": 1276 + seed, "vehicles_running": 50,
                "vehicles_not_inserted": 7 if k == 4 else 0,
            })  # fmt: skip
    return out


@pytest.mark.parametrize("prefix", ["", "quickstart/"])
def test_the_summary_fits_in_100_columns_and_keeps_the_first_columns(prefix):
    table = terminal_summary(rows(prefix))
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100, table
    for name in TERMINAL_COLUMNS:
        assert METRICS[name].label.split()[-1] in table, (name, table)
    first_row = next(line for line in lines if line.startswith(prefix + "fixed-time"))
    assert "32.3±1.3" in first_row and "56.3 " in first_row and "2544±11" in first_row
    assert "not shown here (full data in results.csv and report.html)" in table
    assert "over 3 episodes per controller" in table
    assert "JAM!" not in table  # 7 of 1327 never inserted is a few waiting at the end, not a jam


def test_a_jammed_controller_is_flagged_and_explained_within_100_columns():
    jammed = rows("a-long-folder-name/")
    for r in jammed[12:]:
        r["vehicles_not_inserted"] = 260
    table = terminal_summary(jammed)
    assert max(len(line) for line in table.splitlines()) <= 100, table
    assert "a-long-folder-name/batched-q: jammed in 3 of 3 episodes (260 of 1587 vehicles never inserted)" in table
    (flagged,) = [line for line in table.splitlines() if line.endswith("JAM!")]
    assert flagged.startswith("a-long-folder-name/batched-q")


def test_a_metric_of_ones_own_is_shown_when_it_fits():
    twice = Metric("arrived_twice", "arrived twice", "veh", "higher", lambda e: 0)
    table = terminal_summary([dict(r, arrived_twice=2) for r in rows()], metrics=METRICS.extended([twice]), width=140)
    assert "arrived" in table and "twice" in table
    assert max(len(line) for line in table.splitlines()) <= 140


def test_plurals():
    assert plural(1, "neighbour") == "1 neighbour" and plural(2, "neighbour") == "2 neighbours"
    assert plural(0, "episode") == "0 episodes" and plural(1, "green phase") == "1 green phase"


def test_a_warning_inside_a_command_is_one_line(monkeypatch, capsys):
    import traffic_lam.controllers as controllers

    names = controllers.controller_names

    def warn_then_list():
        warnings.warn("something odd\nabout the network", UserWarning, stacklevel=2)
        return names()

    monkeypatch.setattr(controllers, "controller_names", warn_then_list)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        shown = warnings.showwarning
        assert main(["list"]) == 0
        assert warnings.showwarning is shown  # the display in place before the command is back after it
    assert capsys.readouterr().err == "traffic-lam: warning: something odd about the network\n"


def test_check_network_prints_greens_and_ends_with_no_problems_found(capsys):
    assert main(["check-network", "single-intersection"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "  no problems found"
    assert "    A0: 4 green phases, 8 incoming lanes, 8 outgoing lanes, no neighbours" in lines
    greens = [line.split(": ")[1] for line in lines if line.startswith("      green ")]
    assert len(greens) == 4 and all(set(g) <= set("GgrRyYsuOo") and "G" in g for g in greens)


def test_check_network_lists_the_neighbours(capsys):
    assert main(["check-network", "grid2x2"]) == 0
    out = capsys.readouterr().out
    assert "2 neighbours (" in out and "1 neighbours" not in out and out.endswith("  no problems found\n")


def test_long_comparison_labels_are_cut_in_the_folder_part_and_stay_apart():
    folders = ("g-dqn-wave-delay-eps01-scratch/grid4x4/", "g-dqn-wave-delay-eps01/grid4x4/")
    labelled = [{**row, "controller": folder + row["controller"]} for folder in folders for row in rows()]
    lines = [line for line in terminal_summary(labelled).splitlines() if "…" in line and "±" in line]
    firsts = [line.split("±")[0].rsplit(" ", 1)[0].rstrip() for line in lines]
    assert len(firsts) == 2 * len(LABELS) and len(set(firsts)) == len(firsts), lines
    assert all(first.endswith(LABELS) and len(first) <= 32 for first in firsts), firsts


def test_a_folder_is_cut_alike_in_every_one_of_its_labels():
    labels = [f"g-dqn-g95-scratch/grid4x4/{own}" for own in ("greedy", "dqn-s0 (selected)", "dqn-scratch-s0 (final)")]
    cut = short_labels([*labels, "b/greedy"], 32)
    folders = {cut[label].rpartition("/")[0] for label in labels}
    assert len(folders) == 1 and "…" in folders.pop()  # the same folder in every row
    assert all(len(cut[label]) <= 32 and cut[label].endswith(label.rpartition("/")[2]) for label in labels)
    assert cut["b/greedy"] == "b/greedy"
