"""Replay: the panel and GIF on synthetic frames, the scenario's replay section, no Xvfb -> one line, and sumo-gui
under Xvfb recording an animation of a classic controller and of a run's trained learner (clips in report.html)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageSequence

from traffic_lam.cli import main
from traffic_lam.errors import ConfigError
from traffic_lam.experiments.runner import run_scenario
from traffic_lam.experiments.scenario import ScenarioError, load_scenario, parse_scenario
from traffic_lam.replay import FrameInfo, SignalFrame, overlay, write_gif
from traffic_lam.replay.frames import frame_info
from traffic_lam.replay.play import clip_labels, record_clips

TINY = """\
name: tiny
network: single-intersection
timing: {delta_time: 5, yellow_time: 2, min_green: 5, max_green: 50, begin: 0, end: 60}
controllers:
  - max-pressure
  - name: q
    type: batched-q
    args: {mode: tabular, seed: 0}
training: {episodes: 1}
evaluation: {seeds: [0], episodes: 1}
"""
needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (apt-get install xvfb)")


def gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as image:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


def run_folder(tmp_path: Path, extra: str = "") -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(TINY + extra)
    return folder


def test_frame_info_reads_the_green_chosen_and_the_switch():
    before = {"A": {"phase": 0, "queue": 3}, "B": {"phase": 1, "queue": 0}}
    after = {"A": {"phase": 2, "queue": 1}, "B": {"phase": 1, "queue": 4}}
    info = frame_info(15.0, before, after, {"A": ["Grr", "rGr", "rrG"], "B": ["Gr", "rG"]})
    assert info == FrameInfo(15.0, (SignalFrame("A", 2, "rrG", 0, 3.0), SignalFrame("B", 1, "rG", None, 0.0)))


def test_overlay_and_gif_on_synthetic_frames(tmp_path):
    pictures = [Image.new("RGB", (320, 200), colour) for colour in ("white", "gray", "black")]
    infos = [
        FrameInfo(5.0 * k, (SignalFrame("A0", k % 2, "GGrr" if k % 2 == 0 else "rrGG", None, 10 * k),
                            SignalFrame("B1", 1, "rGrG", 0 if k == 1 else None, 0)))
        for k in range(3)
    ]  # fmt: skip
    panels = [overlay(p, i) for p, i in zip(pictures, infos, strict=True)]
    assert len({p.size for p in panels}) == 1  # the panel's size does not depend on the values shown
    width, height = panels[0].size
    assert width == 320 and height > 200
    band = panels[0].crop((0, 200, width, height))
    assert len(band.getcolors(maxcolors=10_000)) > 2  # text in several colours on the panel's background
    assert band.getpixel((width - 1, height - 201)) == (24, 24, 24)

    gif = write_gif(pictures, infos, tmp_path / "clip.gif", fps=2, title="demo")
    frames = gif_frames(gif)
    assert len(frames) == 3 and frames[0].size == (width, height)
    assert len({f.tobytes() for f in frames}) == 3
    with Image.open(gif) as image:
        assert image.info["duration"] == 500
    with pytest.raises(ValueError, match="one info per picture"):
        write_gif(pictures, infos[:2], tmp_path / "bad.gif")


def test_replay_section_of_a_scenario(tmp_path):
    data = load_scenario(run_folder(tmp_path) / "scenario.yaml")
    assert data.replay is None and clip_labels(data) == []
    scenario = parse_scenario({**_tiny(), "replay": {"end": 40}})
    assert scenario.replay.seed == 0 and scenario.replay.controllers == "all-learners"
    assert clip_labels(scenario) == ["q"]
    assert scenario.replay.period(0.0, 3600.0) == (0.0, 40.0)
    assert parse_scenario({**_tiny(), "replay": {}}).replay.period(100.0, 3600.0) == (100.0, 400.0)
    assert parse_scenario({**_tiny(), "replay": {"begin": 50}}).replay.period(0.0, 60.0) == (50.0, 60.0)
    labels = parse_scenario({**_tiny(), "replay": {"controllers": ["max-pressure", "q"]}})
    assert clip_labels(labels) == ["max-pressure", "q"]
    with pytest.raises(ScenarioError, match=r"replay\.controllers: unknown label 'dqn' \(labels: max-pressure, q\)$"):
        parse_scenario({**_tiny(), "replay": {"controllers": ["dqn"]}}, where="x.yaml")
    with pytest.raises(ScenarioError, match=r"replay\.end: expected after begin \(30\), got 20$"):
        parse_scenario({**_tiny(), "replay": {"begin": 30, "end": 20}}, where="x.yaml")


def _tiny() -> dict:
    return yaml.safe_load(TINY)


def test_no_display_and_no_xvfb_says_what_to_install(tmp_path, monkeypatch, capsys):
    folder = run_folder(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["replay", str(folder), "--controller", "max-pressure"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "traffic-lam: error: replay: no display (DISPLAY is not set) and no Xvfb to record under: apt-get install xvfb"
    ]
    assert not (folder / "replays").exists()


def test_bad_requests_give_one_line_and_write_nothing(tmp_path, capsys):
    folder = run_folder(tmp_path)
    for argv, expected in [
        (["--controller", "nope"], "controller: no 'nope' in "),
        (["--controller", "q"], "'q' is not trained yet (run the scenario first)"),
        (["--controller", "max-pressure", "--out", str(tmp_path / "x.mp4")], "out: expected a .gif file, got "),
        (["--controller", "max-pressure", "--begin", "30", "--end", "10"], "end: expected after begin (30), got 10"),
    ]:
        assert main(["replay", str(folder), *argv]) == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and error.startswith("traffic-lam: error: ") and expected in error, error
    assert main(["replay", str(tmp_path), "--controller", "q"]) == 2
    assert "not a run folder (no scenario.yaml)" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["scenario.yaml"]


@needs_xvfb
def test_replay_under_xvfb_records_an_animation_of_the_junction(tmp_path, monkeypatch, capsys):
    folder = run_folder(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "mp.gif"
    assert main(["replay", str(folder), "--controller", "max-pressure", "--seed", "1", "--end", "40",
                 "--out", str(out)]) == 0  # fmt: skip
    assert f"animation: {out} (8 frames" in capsys.readouterr().out
    frames = gif_frames(out)
    assert len(frames) == 8 and len({f.tobytes() for f in frames}) > 1
    width, height = frames[0].size
    picture = frames[-1].crop((0, 0, 800, 600))
    assert width == 800 and height > 600
    # the junction is in view: the middle of the picture is road (dark), not sumo-gui's empty background
    assert np.asarray(picture.crop((350, 250, 450, 350)).convert("L")).mean() < 128
    assert "DISPLAY" not in os.environ  # restored after the recording


@needs_xvfb
def test_a_run_with_a_replay_section_embeds_a_clip_per_learner(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY + "replay: {end: 30}\n")
    summary = run_scenario(load_scenario(path), tmp_path / "run")
    assert not summary.failures
    clip = tmp_path / "run" / "replays" / "q.gif"
    assert sorted(p.name for p in clip.parent.iterdir()) == ["q.gif"]
    frames = gif_frames(clip)
    assert len(frames) == 6 and len({f.tobytes() for f in frames}) > 1
    assert 'src="replays/q.gif"' in summary.report.read_text()


def test_fps_must_be_positive(tmp_path):
    from traffic_lam.replay import replay

    with pytest.raises(ConfigError, match="fps: expected a number > 0, got 0"):
        replay(run_folder(tmp_path), "max-pressure", out=tmp_path / "x.gif", fps=0)


def test_record_clips_skips_what_it_cannot_record_with_one_warning(tmp_path):
    assert record_clips(run_folder(tmp_path)) == {}  # no replay section: nothing recorded, nothing warned
    folder = tmp_path / "asks"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(TINY + "replay: {controllers: [q]}\n")
    with pytest.warns(UserWarning, match=r"^replay: no clip of 'q': .*'q' is not trained yet"):
        assert record_clips(folder) == {}
    assert not (folder / "replays").exists()
    assert record_clips(tmp_path / "missing") == {}
