"""Faults stay with their job: SUMO killed mid-episode, a worker process killed; the rest finish, a re-run retries."""

import csv
from pathlib import Path

import pytest

from tests.helpers_faults import die_on_three
from traffic_lam.cli import main
from traffic_lam.experiments.executors import run_jobs

SCENARIO = """\
network: single-intersection
timing: {{delta_time: 10, end: 120}}
backend: {backend}
controllers:
  - fixed-time
  - name: killer
    type: tests.helpers_faults:KillSumo
    args: {{marker: {marker}, target: {target}}}
evaluation: {{seeds: [0, 1]}}
"""


def rows(out: Path) -> list[tuple[str, str]]:
    with (out / "results.csv").open() as handle:
        return sorted((r["controller"], r["seed"]) for r in csv.DictReader(handle))


def failure_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("traffic-lam: error:")]


@pytest.mark.parametrize(
    "backend, target, workers, cause",
    [
        ("traci", "sumo", "1", "SimulationError: SUMO failed at t="),
        ("libsumo", "worker", "2", "worker process died (killed by SIGKILL)"),
    ],
)
def test_a_killed_job_fails_alone_and_a_rerun_finishes_it(tmp_path, capsys, backend, target, workers, cause):
    path = tmp_path / "faults.yaml"
    path.write_text(SCENARIO.format(backend=backend, marker=tmp_path / "killed", target=target))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--workers", workers, "--quiet"]) == 1
    (line,) = failure_lines(capsys)
    log = out / "logs" / "failures.log"
    assert "evaluate killer seed " in line and " episode 0 failed: " in line and cause in line, line
    assert str(log) in line
    killed_seed = line.split("evaluate killer seed ")[1].split()[0]
    done = rows(out)
    assert done == sorted({("fixed-time", "0"), ("fixed-time", "1"), ("killer", "0"), ("killer", "1")}
                          - {("killer", killed_seed)})  # fmt: skip
    text = log.read_text()
    assert f"evaluate killer seed {killed_seed} episode 0" in text
    if target == "sumo":
        assert "Traceback (most recent call last)" in text and "SimulationError" in text

    assert main(["run", str(path), "--out", str(out), "--workers", workers, "--quiet"]) == 0
    assert "1 episode evaluated, 3 already done" in capsys.readouterr().out
    assert len(rows(out)) == 4


def test_a_dead_worker_is_replaced_for_the_jobs_left():
    outcomes = {o.job: o for o in run_jobs(die_on_three, [1, 2, 3, 4, 5, 6], workers=2)}
    assert {job: o.result for job, o in outcomes.items() if o.error is None} == {1: 1, 2: 4, 4: 16, 5: 25, 6: 36}
    assert outcomes[3].error == "worker process died (killed by SIGKILL)"
    assert "no traceback" in outcomes[3].traceback


def test_a_failed_job_keeps_its_traceback():
    (outcome,) = run_jobs(die_on_three, ["x"], workers=1)
    assert outcome.error.startswith("TypeError: ")
    assert "Traceback (most recent call last)" in outcome.traceback and "die_on_three" in outcome.traceback


NAN_SCENARIO = """\
network: single-intersection
timing: {delta_time: 10, end: 60}
controllers:
  - max-pressure
  - name: nan-reader
    type: tests.helpers_faults:KeepGreenOnNanObservation
evaluation: {seeds: [0, 1]}
"""


def test_a_nan_observation_fails_its_jobs_with_one_line_naming_the_signal(tmp_path, capsys):
    path = tmp_path / "nan.yaml"
    path.write_text(NAN_SCENARIO)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 1
    lines = failure_lines(capsys)
    assert len(lines) == 2, lines
    for line in lines:
        assert "evaluate nan-reader seed " in line and "SignalValueError" in line, line
        expected = "observation 'tests.helpers_faults:NanAfter20sObservation' gave nan (at index 0)"
        assert f"{expected} for signal 'A0' at t=20 s" in line, line
    assert rows(out) == [("max-pressure", "0"), ("max-pressure", "1")]
