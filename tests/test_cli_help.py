"""The one ``traffic-lam`` parser: every command's help has examples, errors are one line with exit code 2."""

import json
import os
import re
import subprocess
import sys

import pytest

from traffic_lam.cli import main
from traffic_lam.errors import ConfigError

COMMANDS = (
    "run", "compare", "list", "check-network", "simulate", "evaluate", "schema", "export", "replay", "import-osm",
    "demos",
)  # fmt: skip


def exit_code(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def one_error_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("traffic-lam: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_examples(command, capsys):
    assert exit_code([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: traffic-lam {command}")
    assert "\nexamples:\n" in text and f"\n  traffic-lam {command}" in text.split("examples:")[1]
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 8, description


def test_top_level_help_lists_every_command_with_examples(capsys):
    assert exit_code(["--help"]) == 0
    text = capsys.readouterr().out
    listed = text.split("commands:")[1].split("examples:")[0]
    names = re.findall(r"^    (\S+)", listed, flags=re.MULTILINE)  # wrapped help lines are indented further
    assert sorted(names) == sorted(COMMANDS)
    assert "traffic-lam run scenarios/quickstart.yaml --workers 2" in text.split("examples:")[1]


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "check-network" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "single-intersection", "--bogus"], "unrecognized arguments: --bogus (see 'traffic-lam evaluate"),
        (["evaluate"], "the following arguments are required: network"),
        (["run", "x.yaml", "--workers", "two"], "argument --workers: invalid int value: 'two'"),
        (["simulate", "--policy", "smart"], "argument --policy: invalid choice: 'smart'"),
        (["teleport"], "invalid choice: 'teleport'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    assert exit_code(argv) == 2
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err) and captured.out == ""


def test_python_m_evaluation_goes_through_the_same_parser():
    environment = {k: v for k, v in os.environ.items() if k != "SUMO_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "traffic_lam.evaluation", "single-intersection", "--bogus"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus (see 'traffic-lam evaluate --help')" in one_error_line(result.stderr)


def test_bad_input_in_a_command_is_one_line_with_exit_code_2(capsys):
    assert main(["check-network", "nowhere"]) == 2
    assert "network 'nowhere' not found" in one_error_line(capsys.readouterr().err)
    assert main(["evaluate", "single-intersection", "--episodes", "many"]) == 2
    assert "episodes: expected an integer, got 'many'" in one_error_line(capsys.readouterr().err)


def test_simulate_passes_only_the_options_given_so_the_environment_defaults_apply(monkeypatch, capsys):
    seen = []

    def make_env(network, **options):
        seen.append((network, options))
        raise ConfigError("stopped before simulating")

    monkeypatch.setattr("traffic_lam.env.make_env", make_env)
    assert main(["simulate"]) == 2
    assert main(["simulate", "grid2x2", "--end", "60", "--max-green", "30", "--backend", "traci"]) == 2
    assert seen == [
        ("single-intersection", {"gui": False}),
        ("grid2x2", {"gui": False, "end_time": 60.0, "max_green": 30, "backend": "traci"}),
    ]
    assert "stopped before simulating" in capsys.readouterr().err


def test_schema_prints_or_writes_the_scenario_json_schema(tmp_path, capsys):
    pytest.importorskip("traffic_lam.experiments.schema")
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "controllers" in printed["properties"]
    out = tmp_path / "sub" / "scenario.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads(out.read_text()) == printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["scenario.schema.json"]  # no temporary file left
