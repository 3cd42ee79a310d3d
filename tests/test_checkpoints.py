"""Checkpoints you can resume and trust: kill -9 then resume, tampered files refused, one unit on disk."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import traffic_lam
from traffic_lam.controllers import TrainingBudget, checkpoints, make_controller
from traffic_lam.env.factory import EnvFactory
from traffic_lam.errors import ControllerError

ROOT = Path(__file__).resolve().parents[1]
NETWORK, OPTIONS = "single-intersection", {"end_time": 60, "delta_time": 10}
DECISIONS = 6  # per episode: 60 s / 10 s
LEARNERS = {
    "dqn": ("dqn", {"learning_starts": 4, "batch_size": 8, "buffer_size": 500, "device": "cpu"}),
    "batched-q-neural": ("batched-q", {"mode": "neural", "learning_starts": 4, "batch_size": 8, "device": "cpu"}),
    "batched-q-tabular": ("batched-q", {"mode": "tabular", "device": "cpu"}),
}
EPISODES, EVERY = 8, 2


@dataclass(frozen=True)
class SlowFactory(EnvFactory):
    """Simulations that take ``delay_s`` longer per step: time to kill the training between two checkpoints."""

    delay_s: float = 0.0

    def vector(self, num_envs, trip_dir=None, **overrides):
        return _Slow(super().vector(num_envs, trip_dir=trip_dir, **overrides), self.delay_s)


class _Slow:
    def __init__(self, venv, delay_s):
        self._venv, self._delay_s = venv, delay_s

    def __getattr__(self, name):
        return getattr(self._venv, name)

    def step_wait(self):
        time.sleep(self._delay_s)
        return self._venv.step_wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._venv.close()


def learner(case):
    kind, args = LEARNERS[case]
    return make_controller(kind, args)


def train(case, folder, episodes=EPISODES, delay_s=0.0):
    """Train ``case`` into ``folder`` (checkpoints and curve); the learner (also run in a subprocess)."""
    controller = learner(case)
    factory = SlowFactory(NETWORK, {**OPTIONS, **controller.env_options()}, delay_s)
    budget = TrainingBudget(episodes=episodes, seed=3, checkpoint_every=EVERY, checkpoint_dir=Path(folder) / "work",
                            curve_file=Path(folder) / "curve.csv")  # fmt: skip
    controller.learn(factory, budget)
    return controller


def curve_episodes(folder):
    path = Path(folder) / "curve.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [int(row["episode"]) for row in csv.DictReader(handle)]


def checkpointed_episodes(folder):
    manifest = Path(folder) / "work" / checkpoints.MANIFEST
    return json.loads(manifest.read_text())["episodes"] if manifest.is_file() else None


def kill_after_a_checkpoint(case, folder):
    """Train in a subprocess; SIGKILL it (and its simulations) once a curve row past its first checkpoint exists."""
    code = f"from tests.test_checkpoints import train; train({case!r}, {str(folder)!r}, delay_s=0.05)"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            saved = checkpointed_episodes(folder)
            if saved is not None and len(curve_episodes(folder)) > saved:
                break
            time.sleep(0.01)
        assert process.poll() is None, f"training ended before it was killed: {process.stderr.read().decode()[-2000:]}"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
    return checkpointed_episodes(folder), curve_episodes(folder)


@pytest.mark.parametrize("case", ["dqn", "batched-q-neural"])
def test_resume_after_kill_9_continues_the_schedule_without_duplicated_rows(tmp_path, monkeypatch, case):
    saved, rows_at_kill = kill_after_a_checkpoint(case, tmp_path)
    assert saved is not None and saved % EVERY == 0 and saved < EPISODES
    assert len(rows_at_kill) > saved  # rows past the checkpoint were written, and are lost with the kill

    written = []
    original = checkpoints.write_checkpoint

    def recording(folder, fill, episodes, curve, extra=None):
        written.append(episodes)
        original(folder, fill, episodes, curve, extra)

    monkeypatch.setattr(checkpoints, "write_checkpoint", recording)
    resumed = train(case, tmp_path)

    assert curve_episodes(tmp_path) == list(range(1, EPISODES + 1))  # each episode once
    assert sorted(set(written)) == list(range(saved + EVERY, EPISODES + 1, EVERY))  # the same schedule
    assert checkpointed_episodes(tmp_path) == EPISODES
    if case == "dqn":
        assert resumed.model.num_timesteps == EPISODES * DECISIONS  # one signal
    else:
        assert resumed.training_episodes == EPISODES and resumed.decision_steps == EPISODES * DECISIONS
    assert not list((tmp_path / "work").glob(".checkpoint*"))  # no staging folder left


def flip_a_byte(path, at=-40):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("case", "file"), [("batched-q-tabular", "checkpoint.pt"), ("dqn", "replay_buffer.pkl")])
def test_a_tampered_checkpoint_is_refused_with_one_line(tmp_path, case, file):
    train(case, tmp_path, episodes=2)
    flip_a_byte(tmp_path / "work" / file)
    with pytest.raises(ControllerError, match="does not match") as caught:
        train(case, tmp_path, episodes=4)  # the pickle is never read: the manifest check comes first
    message = str(caught.value)
    assert str(tmp_path / "work" / file) in message and "\n" not in message
    assert curve_episodes(tmp_path) == [1, 2]  # nothing was started


@pytest.mark.parametrize("case", ["batched-q-tabular", "dqn"])
def test_a_tampered_final_model_is_refused_and_an_intact_one_loads(tmp_path, case):
    path = train(case, tmp_path, episodes=1).save(tmp_path / "model.final")
    document = json.loads(Path(f"{path}.json").read_text())
    assert document["sha256"] == checkpoints.sha256_of(path)
    assert traffic_lam.load(path).name == LEARNERS[case][0]
    flip_a_byte(path, at=len(path.read_bytes()) // 2)
    with pytest.raises(ControllerError, match="does not match") as caught:
        traffic_lam.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_artefact_without_a_recorded_sha256_is_refused(tmp_path):
    path = train("batched-q-tabular", tmp_path, episodes=1).save(tmp_path / "model.pt")
    document_path = Path(f"{path}.json")
    document = json.loads(document_path.read_text())
    del document["sha256"]
    document_path.write_text(json.dumps(document))
    with pytest.raises(ControllerError, match="records no sha256"):
        traffic_lam.load(path)


def write(folder, episodes, content):
    def fill(staging):
        (staging / "model.bin").write_text(content)

    checkpoints.write_checkpoint(folder, fill, episodes, [{"episode": e + 1} for e in range(episodes)])


def test_an_interrupted_write_keeps_the_previous_checkpoint(tmp_path):
    write(tmp_path, 1, "first")

    def crash(staging):
        (staging / "model.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        checkpoints.write_checkpoint(tmp_path, crash, 2, [])
    resumed = checkpoints.open_checkpoint(tmp_path)
    assert resumed.episodes == 1 and resumed.curve == [{"episode": 1}]
    assert (tmp_path / "model.bin").read_text() == "first"


def test_a_committed_checkpoint_interrupted_while_moving_into_place_is_completed(tmp_path, monkeypatch):
    write(tmp_path, 1, "first")
    moves = []
    real_replace = os.replace

    def replace_then_die(source, target):
        if checkpoints.PENDING in str(source):  # a move out of the committed folder
            moves.append(target)
            if len(moves) == 2:  # one file moved: killed before the next one and the manifest
                raise SystemExit("killed")
        real_replace(source, target)

    monkeypatch.setattr(checkpoints.os, "replace", replace_then_die)
    with pytest.raises(SystemExit):
        write(tmp_path, 2, "second")
    monkeypatch.setattr(checkpoints.os, "replace", real_replace)
    assert (tmp_path / checkpoints.PENDING).is_dir()
    resumed = checkpoints.open_checkpoint(tmp_path)
    assert resumed.episodes == 2 and (tmp_path / "model.bin").read_text() == "second"
    assert not (tmp_path / checkpoints.PENDING).exists()


def test_a_checkpoint_without_a_manifest_is_refused(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"old")
    with pytest.raises(ControllerError, match=f"without {checkpoints.MANIFEST}"):
        checkpoints.open_checkpoint(tmp_path, legacy=["checkpoint.pt"])
