"""Trained models on the command line: ``evaluate --model`` finds one and its training options; ``export``.

``export`` writes a run's trained policy as an ONNX model.

A learner trained by ``traffic-lam run`` sits in ``RUN/models/<label>/``: its final policy
``model.final`` and, when validation selected one, ``model.selected`` (each with its
document beside it; a folder means the selected one, as the ``<label>`` rows do). The run
folder's ``fingerprint.json`` records the environment the run trained and evaluated it
with (timing, period, SUMO options ...), so it can be evaluated again under the same
conditions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traffic_lam.cli.options import add_command
from traffic_lam.errors import ConfigError

MODEL_FILE = "model.final"
"""The file a run saves a trained learner's final policy to, in ``models/<label>/``."""
SELECTED_FILE = "model.selected"
"""The policy validation selected, beside it (what a learner's folder means when it has one)."""

CARRIED = ("backend", "sumo_options", "time_to_teleport", "collision_check_junctions", "signals")
"""Environment options of a run's fingerprint (besides the timing) that a re-evaluation takes over."""


@dataclass(frozen=True)
class TrainedModel:
    """A saved controller and what is known of how it was trained.

    Attributes:
        path: the saved controller (``model.final``).
        controller: the controller, loaded.
        label: its label in the run (``models/<label>``), else the controller's name.
        run_dir: the run folder it belongs to (None for a model saved elsewhere).
        options: the environment options the run used (``{}`` when unknown).
        network: the network the run trained it on (None when unknown).
    """

    path: Path
    controller: Any
    label: str
    run_dir: Path | None
    options: dict[str, Any]
    network: str | None = None

    def describe(self, argument: str) -> str:
        """How messages name the model: ``argument``, with the run's network when known."""
        return f"{argument} (trained on {self.network})" if self.network else argument


def open_model(argument: str) -> TrainedModel:
    """Load the model ``--model`` names (a trained learner's folder, or its ``model.final``) and its run's options.

    Raises:
        ConfigError: nothing saved there.
        ControllerError: the file is not a saved controller (or fails its checksum).
    """
    from traffic_lam.controllers import load

    path = model_file(Path(argument))
    run_dir = run_folder_of(path)
    controller = load(path)
    label = path.parent.name if run_dir is not None else controller.name
    if not re.fullmatch(r"[\w.+-]+", label):
        label = controller.name
    if run_dir is None:
        return TrainedModel(path, controller, label, None, {})
    return TrainedModel(path, controller, label, run_dir, training_options(run_dir), run_network(run_dir))


def model_file(path: Path) -> Path:
    """The saved controller at ``path``: itself, the ``model.final`` of a folder, or the file a ``.json`` documents.

    Raises:
        ConfigError: no saved controller there.
    """
    if path.is_dir():
        selected = path / SELECTED_FILE
        path = selected if selected.exists() else path / MODEL_FILE
    elif path.name.endswith(".json") and path.with_name(path.name[: -len(".json")]).exists():
        path = path.with_name(path.name[: -len(".json")])  # the document beside the artefact was named
    if not path.exists():
        raise ConfigError(
            f"--model {path}: no saved model there (expected a trained learner's folder, runs/<run>/models/<label>, "
            f"or its {MODEL_FILE})"
        )
    return path


def run_folder_of(model: Path) -> Path | None:
    """The run folder holding ``model`` (``RUN/models/<label>/model.final`` -> ``RUN``), or None."""
    resolved = model.resolve()
    if resolved.parent.parent.name != "models":
        return None
    folder = model.parent.parent.parent if len(model.parts) > 3 else resolved.parent.parent.parent
    return folder if any((folder / name).is_file() for name in ("fingerprint.json", "scenario.yaml")) else None


def training_options(run_dir: Path) -> dict[str, Any]:
    """The environment options a run trained and evaluated with, from its ``fingerprint.json``.

    A folder without one (written before fingerprints) gives its ``scenario.yaml``'s options;
    the observation and reward are left out (a learner reads its own; scores read no reward).

    Raises:
        ConfigError: the fingerprint is unreadable (a scenario copy that does not validate:
            ScenarioError).
    """
    from traffic_lam.signals import SignalTiming

    record = run_dir / "fingerprint.json"
    if not record.is_file():
        from traffic_lam.experiments.scenario import load_scenario

        scenario = load_scenario(run_dir / "scenario.yaml")
        return {k: v for k, v in scenario.env_options.items() if k not in ("observation", "reward")}
    try:
        recorded = json.loads(record.read_text())["fingerprint"]["scenario"]
        timing = recorded["timing"]
        options = {key: timing[key] for key in SignalTiming.model_fields if key in timing}
        options.update(begin_time=float(timing["begin"]), end_time=float(timing["end"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{record}: unreadable ({exc.__class__.__name__}: {exc})") from None
    options.update({key: recorded[key] for key in CARRIED if recorded.get(key) is not None})
    return options


def merge_options(model: TrainedModel, given: Mapping[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    """The run's options with the ``given`` ones (explicit flags) over them; warn of each that differs.

    Args:
        model: the model and its run's options.
        given: the options set on the command line (``--resco`` and timing flags).
        flags: the flag that sets each option, for the warning.
    """
    for option, value in given.items():
        if option in model.options and not _same(model.options[option], value):
            where = model.run_dir if model.run_dir is not None else model.path
            flag = flags.get(option, option)
            print(
                f"traffic-lam: warning: {flag} {value} replaces the {model.options[option]} {model.label} was trained "
                f"with ({where}): the model meets conditions it did not learn",
                file=sys.stderr,
            )
    return {**model.options, **given}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    p = add_command(
        commands,
        "export",
        summary="write a run's trained policy as an ONNX model (for a controller outside traffic_lam)",
        description="Export the trained learner LABEL of a run folder (dqn, ppo or a neural batched-q) as an ONNX "
        "model: inputs the observation rows the learner reads and the action mask, outputs the allowed green of "
        "largest value and the masked values. The layout of the inputs and the timing the policy was trained with "
        'are stored in the file\'s metadata. Needs the onnx extra (pip install -e ".[onnx]").',
        usage_examples=[
            "traffic-lam export runs/quickstart --controller dqn",
            "traffic-lam export runs/grid --controller bq-neural --out policy.onnx",
        ],
        handler=export_command,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by 'traffic-lam run'")
    p.add_argument("--controller", metavar="LABEL", help="the learner's label in the run (default: its only model)")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="model format (default onnx)")
    p.add_argument("--out", metavar="FILE", help="file to write (default: RUN/models/LABEL/model.onnx)")


def export_command(args: argparse.Namespace) -> int:
    """``traffic-lam export``: load the run's trained learner and write it as ONNX; print the layout."""
    from traffic_lam.export.onnx import export_onnx, require_onnx

    require_onnx()
    run_dir = Path(args.run)
    label = args.controller or _only_model(run_dir)
    model = open_model(str(_trained_model(run_dir, label)))
    out = Path(args.out) if args.out else model.path.with_name("model.onnx")
    environment = {**model.options, "network": run_network(run_dir)}
    layout = export_onnx(model.controller, out, {k: v for k, v in environment.items() if v is not None})
    n, shown = len(layout.agents), ", ".join(layout.agents[:4]) + (", ..." if len(layout.agents) > 4 else "")
    every = f"; decisions every {model.options['delta_time']} s" if "delta_time" in model.options else ""
    print(f"wrote {out}: {layout.controller} policy of {n} signal{'s' * (n != 1)} ({shown}){every}")
    a = layout.num_actions
    print(f"  input observation [batch, {n}, {layout.features}] float32: {_parts(layout.parts)}")
    print(f"  input action_mask [batch, {n}, {a}] float32: 1 where the green may be chosen")
    print(f"  outputs: action [batch, {n}] int64, values [batch, {n}, {a}] float32 (-inf: not allowed)")
    print("  layout and timing: traffic_lam.export.read_layout(path) (the file's 'traffic_lam' metadata)")
    return 0


def _parts(parts: Mapping[str, list[int]]) -> str:
    return ", ".join(f"{name} {start}:{stop}" for name, (start, stop) in parts.items())


def _trained_model(run_dir: Path, label: str) -> Path:
    """The model behind ``label`` (``<name>`` selected, ``<name>.final`` final), or one line naming the labels."""
    from traffic_lam.experiments.runner import labelled_model

    path = labelled_model(run_dir, label)
    if not path.exists():
        known = ", ".join(_labels(run_dir)) or "none"
        raise ConfigError(f"{run_dir}: no trained model '{label}' (trained models: {known})")
    return path


def _only_model(run_dir: Path) -> str:
    """The label of the run's one trained model (``--controller`` left out)."""
    if not (run_dir / "models").is_dir():
        raise ConfigError(f"{run_dir}: not a run folder with trained models (no models/ folder)")
    labels = _labels(run_dir)
    if len(labels) != 1:
        listed = ", ".join(labels) or "none"
        raise ConfigError(f"{run_dir}: name the model to export with --controller (trained models: {listed})")
    return labels[0]


def _labels(run_dir: Path) -> list[str]:
    folder = run_dir / "models"
    return sorted(p.parent.name for p in folder.glob(f"*/{MODEL_FILE}")) if folder.is_dir() else []


def run_network(run_dir: Path) -> str | None:
    """The network name the run's fingerprint records (None when unknown)."""
    try:
        return str(json.loads((run_dir / "fingerprint.json").read_text())["fingerprint"]["network"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
