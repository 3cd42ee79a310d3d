"""Run folders through the real entry point: fingerprinted, refused when changed, nothing created on bad input."""

import json
import shutil
from pathlib import Path

import pytest

from traffic_lam.cli import main
from traffic_lam.sim.network import bundled_networks

TINY = """\
network: single-intersection
timing: {delta_time: 10, max_green: 60, end: 120}
controllers:
  - fixed-time
  - max-pressure
evaluation: {seeds: [0]}
"""
LEARNER = """\
  - name: learner
    type: batched-q
    args: {mode: tabular, bins: 4}
    training: {episodes: 1}
"""


def run(*args):
    return main(["run", *map(str, args), "--quiet"])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traffic-lam: error: "), lines
    return lines[0]


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_identical_scenario_resumes_and_the_folder_records_its_fingerprint(tmp_path, scenario, capsys):
    out = tmp_path / "run"
    assert run(scenario, "--out", out) == 0
    record = json.loads((out / "fingerprint.json").read_text())
    assert record["fingerprint"]["scenario"]["timing"]["max_green"] == 60
    assert record["fingerprint"]["network"]["net_file"]["file"] == "single-intersection.net.xml"
    assert len(record["fingerprint"]["network"]["net_file"]["sha256"]) == 64
    assert record["fingerprint"]["traffic_lam"] and record["fingerprint"]["sumo"]
    assert [e["event"] for e in record["history"]] == ["created"]
    assert (out / "scenario.yaml").read_text() == TINY
    capsys.readouterr()

    scenario.write_text("# a comment changes nothing\n" + TINY)
    assert run(scenario, "--out", out) == 0
    assert "0 episodes evaluated, 2 already done" in capsys.readouterr().out
    assert (out / "scenario.yaml").read_text() == TINY  # never rewritten under old results


def test_edited_scenario_is_refused_and_the_folder_left_untouched(tmp_path, scenario, capsys):
    with_learner = TINY.replace("evaluation:", LEARNER + "evaluation:")
    scenario.write_text(with_learner)
    out = tmp_path / "run"
    assert run(scenario, "--out", out) == 0
    before = snapshot(out)
    capsys.readouterr()

    scenario.write_text(with_learner.replace("max_green: 60", "max_green: 30").replace("episodes: 1}", "episodes: 2}"))
    assert run(scenario, "--out", out) == 2
    line = error_line(capsys)
    assert f"{out}: the scenario changed since this folder was written" in line
    assert "timing.max_green 60 -> 30" in line and "controllers[2].training.episodes 1 -> 2" in line
    assert "--restart" in line and "--resume-anyway" in line
    assert snapshot(out) == before


def test_changed_network_file_is_refused(tmp_path, capsys):
    network = shutil.copytree(bundled_networks()["single-intersection"], tmp_path / "net")
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("network: single-intersection", "network: net"))
    out = tmp_path / "run"
    assert run(path, "--out", out) == 0
    capsys.readouterr()
    routes = next(network.glob("*.rou.xml"))
    routes.write_text(routes.read_text() + "<!-- edited -->\n")
    assert run(path, "--out", out) == 2
    line = error_line(capsys)
    assert "the network files changed" in line and "network.route_files[0].sha256" in line


def test_restart_moves_the_old_results_aside_and_starts_over(tmp_path, scenario, capsys):
    out = tmp_path / "run"
    assert run(scenario, "--out", out) == 0
    old = snapshot(out)
    edited = TINY.replace("max_green: 60", "max_green: 30")
    scenario.write_text(edited)
    capsys.readouterr()

    assert run(scenario, "--out", out, "--restart") == 0
    printed = capsys.readouterr().out
    assert "moved the old results to" in printed and "2 episodes evaluated, 0 already done" in printed
    (aside,) = tmp_path.glob("run.old-*")
    assert snapshot(aside) == old
    assert (out / "scenario.yaml").read_text() == edited
    record = json.loads((out / "fingerprint.json").read_text())
    assert record["fingerprint"]["scenario"]["timing"]["max_green"] == 30
    assert [e["event"] for e in record["history"]] == ["restart"]


def test_resume_anyway_keeps_the_results_and_records_the_override(tmp_path, scenario, capsys):
    out = tmp_path / "run"
    assert run(scenario, "--out", out) == 0
    results = (out / "results.csv").read_bytes()
    scenario.write_text(TINY.replace("max_green: 60", "max_green: 30"))
    capsys.readouterr()

    assert run(scenario, "--out", out, "--resume-anyway") == 0
    printed = capsys.readouterr().out
    assert "resuming although the scenario changed" in printed and "0 episodes evaluated, 2 already done" in printed
    assert (out / "results.csv").read_bytes() == results
    assert (out / "scenario.yaml").read_text() == TINY
    record = json.loads((out / "fingerprint.json").read_text())
    override = record["history"][-1]
    assert override["event"] == "resume-anyway" and "timing.max_green 60 -> 30" in override["reason"]
    assert override["previous"]["scenario"]["timing"]["max_green"] == 60
    assert run(scenario, "--out", out) == 0  # the accepted fingerprint is the folder's now


def test_folder_without_fingerprint_is_treated_as_changed(tmp_path, scenario, capsys):
    out = tmp_path / "run"
    assert run(scenario, "--out", out) == 0
    (out / "fingerprint.json").unlink()
    capsys.readouterr()
    assert run(scenario, "--out", out) == 2
    assert "holds results but no fingerprint.json (written by an older traffic_lam)" in error_line(capsys)
    assert not (out / "fingerprint.json").exists()
    assert run(scenario, "--out", out, "--resume-anyway") == 0
    assert json.loads((out / "fingerprint.json").read_text())["history"][-1]["event"] == "resume-anyway"


@pytest.mark.parametrize(
    "edit, extra, message",
    [
        (("evaluation:", "reward: warp\nevaluation:"), [], "reward: unknown reward 'warp'"),
        (("evaluation:", "observation: sonar\nevaluation:"), [], "observation: unknown observation 'sonar'"),
        (
            ("  - max-pressure\n", "  - {type: max-pressure, args: {range: 5}}\n"),
            [],
            "controllers[1] (label 'max-pressure').args: unknown key 'range' for max-pressure (valid: detection_range)",
        ),
        (("", ""), ["--workers", "0"], "--workers: expected an integer >= 1, got 0"),
        (("network: single-intersection", "network: nowhere"), [], "network 'nowhere' not found"),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(tmp_path, scenario, capsys, edit, extra, message):
    scenario.write_text(TINY.replace(*edit))
    out = tmp_path / "deep" / "run"
    assert run(scenario, "--out", out, *extra) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "deep").exists()


def test_compare_refuses_to_write_onto_a_run_folder(tmp_path, scenario, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(scenario, "--out", first) == 0
    assert run(scenario, "--out", second) == 0
    before = snapshot(second)
    capsys.readouterr()
    assert main(["compare", str(first), "--out", str(second)]) == 2
    assert "is a run folder" in error_line(capsys)
    assert main(["compare", str(first), str(second), "--out", str(second)]) == 2
    error_line(capsys)
    assert snapshot(second) == before
    assert main(["compare", str(first), str(second), "--out", str(tmp_path / "cmp")]) == 0
    assert main(["compare", str(first), str(second), "--out", str(tmp_path / "cmp")]) == 0  # a comparison: redrawn
