"""Run folders for the tests that reuse trained models: a scenario run through the CLI, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

from traffic_lam.cli import main


def run_folder(folder: Path, scenario: str) -> Path:
    """Run the ``scenario`` text through ``traffic-lam run`` into ``folder/run``; return the run folder."""
    path = folder / "scenario.yaml"
    path.write_text(scenario)
    assert main(["run", str(path), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run"


def one_error_line(stderr: str) -> str:
    """The one ``traffic-lam: error:`` line ``stderr`` holds (fails the test when there is more)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traffic-lam: error: "), stderr
    return lines[0]
