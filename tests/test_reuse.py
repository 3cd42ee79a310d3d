"""Reusing a trained model: evaluate --model reproduces the run's rows; wrong network or no training: one line."""

from __future__ import annotations

import csv
import io

import pytest

import traffic_lam
from tests.helpers_runs import one_error_line, run_folder
from traffic_lam.cli import main
from traffic_lam.controllers.batched_q import BatchedQ
from traffic_lam.controllers.layouts import SignalSizes
from traffic_lam.controllers.sb3 import DQNController
from traffic_lam.errors import ControllerError
from traffic_lam.experiments.store import read_rows
from traffic_lam.metrics import METRICS

TIMING = {"delta_time": 10, "yellow_time": 3, "all_red_time": 2, "end_time": 120.0}
"""Not the environment's defaults: evaluate --model must take them from the run folder."""
SCENARIO = """
name: reuse
network: single-intersection
timing: {delta_time: 10, yellow_time: 3, all_red_time: 2, begin: 0, end: 120}
controllers:
  - name: learner
    type: batched-q
    args: {mode: tabular, bins: 4}
training: {episodes: 2}
evaluation: {seeds: [0, 1], episodes: 1}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_folder(tmp_path_factory.mktemp("reuse"), SCENARIO)


def scores(row) -> dict:
    return {name: None if row[name] in (None, "") else float(row[name]) for name in METRICS.names}


def run_rows(run) -> dict[int, dict]:
    return {row["sumo_seed"]: row for row in read_rows(run / "results.csv")}


def test_evaluate_model_reproduces_the_runs_own_rows(run, capsys):
    stored = run_rows(run)
    assert sorted(stored) == [0, 1]
    assert main(["evaluate", "single-intersection", "--model", str(run / "models" / "learner"), "--seed", "0",
                 "--episodes", "2", "--csv"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err == ""  # the run's timing, no warning
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [int(r["seed"]) for r in rows] == [0, 1] and {r["controller"] for r in rows} == {"learner"}
    for row in rows:
        assert row["delta_time"] == "10" and float(row["end"]) == 120.0
        assert scores(row) == scores(stored[int(row["seed"])])


def test_the_python_api_evaluates_a_loaded_model(run):
    learner = traffic_lam.load(run / "models" / "learner" / "model.final")
    assert learner.trained
    (record,) = traffic_lam.evaluate("single-intersection", learner, seed=1, **TIMING)
    assert scores(record.to_row()) == scores(run_rows(run)[1])


def test_timing_flags_replace_the_runs_with_a_warning(run, capsys):
    model = str(run / "models" / "learner" / "model.final")
    assert main(["evaluate", "single-intersection", "--model", model, "--end", "60", "--csv"]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.strip().splitlines()
    assert warning.startswith("traffic-lam: warning: --end 60.0 replaces the 120.0 learner was trained with")
    (row,) = csv.DictReader(io.StringIO(captured.out))
    assert float(row["end"]) == 60.0 and row["delta_time"] == "10"


def test_a_table_by_request_rounded_and_narrow(run, capsys):
    assert main(["evaluate", "single-intersection", "--model", str(run / "models" / "learner"), "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(len(line) <= 100 for line in lines)
    assert lines[0].split() == ["delay", "travel", "throughput", "never", "emergency"]
    assert lines[1].split()[:4] == ["controller", "seed", "s", "time"]
    cells = lines[2].split()
    assert cells[:2] == ["learner", "0"] and cells[2] == f"{run_rows(run)[0]['avg_delay']:.1f}"


def test_a_model_trained_on_another_network_is_refused_in_one_line(run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["evaluate", "grid2x2", "--model", str(run / "models" / "learner"), "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert (
        "(trained on single-intersection): batched-q: trained on signals A0, this network (grid2x2) has A0..B1" in line
    )
    assert not list(out.glob("*.xml"))  # refused before any simulation


def test_layout_differences_are_named(run):
    trained = SignalSizes.of(["A0", "A1"], [33, 33], [4, 4])
    assert trained.difference(trained) is None
    assert trained.difference(SignalSizes.of(["A0", "A1"], [12, 33], [4, 4])) == (
        "observation of 12 features at signal A0, trained on 33"
    )
    assert trained.difference(SignalSizes.of(["A0", "A1"], [33, 33], [4, 2])) == "signal A1 has 2 greens, trained on 4"
    assert trained.difference(SignalSizes.of(["B1", "B2", "B3", "B4"], [33] * 4, [4] * 4), "grid2x2") == (
        "trained on signals A0, A1, this network (grid2x2) has B1..B4 (4 signals)"
    )
    assert "in this order" in trained.difference(SignalSizes.of(["A1", "A0"], [33, 33], [4, 4]))


def test_an_untrained_learner_is_refused_on_the_command_line_and_in_python(run, capsys):
    assert main(["evaluate", "single-intersection", "--controller", "dqn", "--end", "30"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "controller 'dqn' is not trained: train it" in line and "--model" in line
    for learner in (DQNController(), BatchedQ(mode="neural"), BatchedQ(mode="tabular")):
        assert not learner.trained
        with pytest.raises(ControllerError, match=f"controller '{learner.name}' is not trained"):
            traffic_lam.evaluate("single-intersection", learner, end_time=30)
    assert traffic_lam.controllers.Greedy().trained  # nothing to train


def test_model_arguments_that_do_not_fit_are_one_line(run, tmp_path, capsys):
    model = str(run / "models" / "learner")
    for argv, message in [
        (["--model", str(tmp_path / "nothing")], "no saved model there"),
        (["--model", model, "--controller", "dqn"], "holds a 'batched-q' (leave --controller out)"),
    ]:
        assert main(["evaluate", "single-intersection", *argv]) == 2
        assert message in one_error_line(capsys.readouterr().err)
