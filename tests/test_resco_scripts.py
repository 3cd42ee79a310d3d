"""The RESCO reproduction scripts refuse a bad setting in one line, exit 2, before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.mark.parametrize(
    "script, arguments, expected",
    [
        (
            "reproduce_resco_imitation.py",
            ["--maps", "cologne8", "--families", "ppo", "--no-imitation", "--warm", "pretrain_steps=5"],
            "warm_start.pretrain_steps: read only by dqn and neural batched-q; ppo does not read it",
        ),
        (
            "reproduce_resco_imitation.py",
            ["--maps", "grid4x4", "--families", "dqn", "--learner", "hiden=3"],
            "unknown",
        ),
        (
            "reproduce_resco_imitation.py",
            ["--maps", "grid4x4", "--no-scratch", "--no-warm"],
            "--no-scratch and --no-warm",
        ),
    ],
)
def test_a_bad_learner_setting_stops_the_script_before_anything_is_written(tmp_path, script, arguments, expected):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=SCRIPTS,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], done.stderr
    assert not out.exists()
