"""What `traffic-lam run` shows while it works: bars per training and evaluated episode, or a line per phase."""

import io
import os
import sys
import time

import pytest

from traffic_lam.cli import main
from traffic_lam.cli.experiments import _count, _duration
from traffic_lam.experiments.progress import CurveWatcher
from traffic_lam.files import write_csv

SCENARIO = """
name: tiny
network: single-intersection
timing: {delta_time: 10, yellow_time: 3, all_red_time: 2, begin: 0, end: 100}
controllers:
  - fixed-time
  - name: learner
    type: batched-q
    args: {mode: tabular, bins: 4}
training: {episodes: 3, num_envs: 1}
evaluation: {seeds: [0, 1], episodes: 1}
"""


class FakeTerminal(io.StringIO):
    """A captured stream that says it is a terminal (stdout and stderr both, so their order is kept)."""

    def isatty(self):
        return True


@pytest.fixture()
def scenario(tmp_path, monkeypatch):
    """The scenario file; each training episode's curve row stays the newest for a poll or more."""
    from traffic_lam.controllers.offpolicy import loop

    written = loop.write_csv

    def slowly(*args, **kwargs):
        written(*args, **kwargs)
        time.sleep(0.7)  # longer than the watcher's 0.5 s between looks: every episode is seen

    monkeypatch.setattr(loop, "write_csv", slowly)
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def test_a_terminal_shows_each_training_episode_before_training_ends(tmp_path, scenario, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(scenario), "--out", str(tmp_path / "run")]) == 0
    text = terminal.getvalue()
    trained = text.index("trained learner: 3 episodes in ")
    first = text.index("train learner:")
    assert first < trained
    episode_one = text.index(" 1/3 [", first)
    assert episode_one < trained
    assert "delay " in text[episode_one:trained] and "return " in text[episode_one:trained]
    assert text.index("evaluate:   0%") < text.index(" 1/4 [") < text.index("evaluated 4 episodes in ")
    assert "\n1 learner trained in " in text and "; 4 episodes evaluated, 0 already done, in " in text


def test_off_a_terminal_one_line_per_phase_and_no_bars(tmp_path, scenario, capsys):
    assert main(["run", str(scenario), "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "\x1b" not in out + err and "%|" not in out + err
    lines = out.splitlines()
    (trained,) = [line for line in lines if line.startswith("trained learner")]
    assert trained.startswith("trained learner: 3 episodes in ") and ", last delay " in trained
    assert [line for line in lines if line.startswith("evaluated")] == [lines[lines.index(trained) + 1]]
    assert lines[lines.index(trained) + 1].startswith("evaluated 4 episodes in ")

    assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    again = capsys.readouterr().out
    assert "1 learner already trained; 0 episodes evaluated, 4 already done" in again
    assert "trained learner" not in again and "evaluated 0" not in again


def test_quiet_shows_no_bar_on_a_terminal(tmp_path, monkeypatch):
    from traffic_lam.cli.experiments import _ProgressBars
    from traffic_lam.experiments.progress import ProgressUpdate

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    bars = _ProgressBars(quiet=True)
    bars(ProgressUpdate("evaluate", 0, 2))
    bars(ProgressUpdate("evaluate", 1, 2, latest={"controller": "x", "avg_delay": 3.0}, elapsed_s=1.0))
    bars(ProgressUpdate("evaluate", 2, 2, elapsed_s=2.0, finished=True))
    bars.close()
    assert terminal.getvalue() == "evaluated 2 episodes in 2.0 s\n"


def test_the_watcher_reports_new_curve_rows_and_ignores_an_older_file(tmp_path):
    fresh, stale = tmp_path / "fresh.csv", tmp_path / "stale.csv"
    write_csv(stale, [{"episode": 1, "return": -1.0}])
    os.utime(stale, (time.time() - 60, time.time() - 60))  # left by an earlier run
    updates = []
    with CurveWatcher({"fresh": (fresh, 4), "stale": (stale, 2)}, updates.append, interval_s=0.05) as watcher:
        write_csv(fresh, [{"episode": 1, "return": -3.0, "delay_s": 40.0, "wall_s": 2.0}])
        deadline = time.time() + 5
        while not updates and time.time() < deadline:
            time.sleep(0.01)
        write_csv(fresh, [{"episode": e, "return": -2.0, "delay_s": 30.0, "wall_s": 2.0 * e} for e in (1, 2)])
        watcher.finished("fresh", wall_s=7.5)
        watcher.finished("stale", failed=True)
    fresh_updates = [u for u in updates if u.name == "fresh"]
    assert [(u.done, u.total, u.finished) for u in fresh_updates] == [(1, 4, False), (2, 4, False), (2, 4, True)]
    assert fresh_updates[0].latest["delay_s"] == 40.0 and fresh_updates[0].elapsed_s >= 2.0
    assert fresh_updates[-1].elapsed_s == 7.5
    (stale_update,) = [u for u in updates if u.name == "stale"]
    assert (stale_update.done, stale_update.finished, stale_update.failed) == (0, True, True)


def test_counts_and_durations_read_right():
    assert [_count(n, "learner") for n in (0, 1, 2)] == ["0 learners", "1 learner", "2 learners"]
    assert [_duration(s) for s in (0.04, 8.25, 21.4, 63, 3725)] == ["0.0 s", "8.2 s", "21 s", "1 min 3 s", "1 h 2 min"]
