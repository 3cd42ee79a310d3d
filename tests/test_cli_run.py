"""The command line through its real entry point: run, resume after a crash, compare, errors."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LEARNER = "  - name: learner\n    type: batched-q\n    args: {mode: tabular, bins: 4}\n"
TINY = """
name: tiny
network: single-intersection
timing: {delta_time: 10, yellow_time: 3, all_red_time: 2, begin: 0, end: 300}
controllers:
  - fixed-time
  - max-pressure
  - name: learner
    type: batched-q
    args: {mode: tabular, bins: 4}
training: {episodes: 2, num_envs: 1}
evaluation: {seeds: [0, 1], episodes: 1}
"""


def cli(*args, check=True, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "traffic_lam", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def rows(run: Path) -> list[dict]:
    with (run / "results.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_run_writes_results_plots_report_then_resumes(tmp_path, scenario):
    run = tmp_path / "run"
    result = cli("run", str(scenario), "--out", str(run), "--quiet")
    assert "1 learner trained in " in result.stdout and "; 6 episodes evaluated, 0 already done" in result.stdout
    table = rows(run)
    assert sorted((r["controller"], r["seed"]) for r in table) == [
        (c, s) for c in ("fixed-time", "learner", "max-pressure") for s in ("0", "1")
    ]
    assert all(float(r["avg_delay"]) > 0 for r in table)
    for name in ("performance", "safety", "delay_vs_safety", "learning_curves"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 10_000
    report = (run / "report.html").read_text()
    assert "plots/performance.png" in report and "max-pressure" in report
    assert (run / "scenario.yaml").read_text() == TINY
    assert (run / "models" / "learner" / "model.final").is_file()
    for r in table:  # every episode keeps SUMO's own trip output
        assert Path(r["tripinfo_file"]).is_file()

    again = cli("run", str(scenario), "--out", str(run), "--quiet")
    assert "1 learner already trained; 0 episodes evaluated, 6 already done" in again.stdout
    assert rows(run) == table


def test_resume_after_a_killed_run(tmp_path, scenario):
    scenario.write_text(
        TINY.replace("seeds: [0, 1]", "seeds: [0, 1, 2, 3]").replace(
            "  - name: learner\n    type: batched-q\n    args: {mode: tabular, bins: 4}\n", ""
        )
    )
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    process = subprocess.Popen(
        [sys.executable, "-m", "traffic_lam", "run", str(scenario), "--out", str(run), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if (run / "results.csv").is_file() and len(rows(run)) >= 2:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(rows(run))
    assert 2 <= done_before < 8, "the run should have been killed mid-way"
    result = cli("run", str(scenario), "--out", str(run), "--quiet")
    assert f"{8 - done_before} episodes evaluated, {done_before} already done" in result.stdout
    assert len(rows(run)) == 8


def test_compare_existing_runs_without_simulating(tmp_path, scenario):
    run = tmp_path / "run"
    cli("run", str(scenario.with_name("tiny.yaml")), "--out", str(run), "--quiet")
    out = tmp_path / "cmp"
    result = cli("compare", str(run), str(run), "--out", str(out))
    assert "run/fixed-time" in result.stdout
    assert (out / "report.html").is_file() and (out / "plots" / "performance.png").is_file()


@pytest.mark.parametrize(
    "text, message",
    [
        ("network: single-intersection\ncontrollers: [fixed-time]\ntiming: {yelow: 3}\n", "unknown key 'timing.yelow'"),
        ("network: single-intersection\ncontrollers: [warp-drive]\n", "unknown controller 'warp-drive'"),
        ("network: nowhere\ncontrollers: [fixed-time]\n", "network 'nowhere' not found"),
        (
            "network: single-intersection\ncontrollers: [fixed-time]\nevaluation: {seeds: [x]}\n",
            "evaluation.seeds: expected an integer",
        ),
    ],
)
def test_bad_scenarios_exit_non_zero_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = cli("run", str(path), "--out", str(tmp_path / "run"), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traffic-lam: error:") and message in lines[0], result.stderr


def test_unwritable_out_folder(tmp_path, scenario):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("run", str(scenario), "--out", str(blocker / "run"), check=False)
    assert result.returncode == 2 and "cannot write there" in result.stderr


def test_help_and_list():
    for command in ("run", "compare", "evaluate", "list", "check-network", "simulate"):
        assert "usage: " in cli(command, "--help").stdout
    listing = cli("list").stdout
    assert "batched-q" in listing and "max-pressure" in listing and "quickstart.yaml" in listing


def test_ray_executor_runs_the_same_jobs(tmp_path, scenario):
    pytest.importorskip("ray")
    scenario.write_text(TINY.replace(LEARNER, ""))
    result = cli("run", str(scenario), "--out", str(tmp_path / "run"), "--executor", "ray", "--workers", "2", "--quiet")
    assert "4 episodes evaluated" in result.stdout
    assert len(rows(tmp_path / "run")) == 4
