"""Replay a run's controller: live in sumo-gui, or recorded as an animated GIF (sumo-gui under Xvfb).

The controller and the environment come from the run folder: its ``scenario.yaml`` (the
environment options, as the runner builds them) and, for a learner, its trained model: the
policy validation selected (``models/<label>/model.selected``, the one ``<label>`` rows report)
or, for ``<label>.final``, the final one; a classic controller is built from its scenario entry.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from traffic_lam.controllers import Controller, load, make_controller
from traffic_lam.controllers.base import read_document
from traffic_lam.env.config import EnvConfig
from traffic_lam.errors import ConfigError, ControllerError, TrafficLamError
from traffic_lam.experiments.scenario import ControllerSpec, Scenario, load_scenario
from traffic_lam.experiments.schema import ALL_LEARNERS, Replay
from traffic_lam.files import atomic_write_text, ensure_writable_dir
from traffic_lam.replay import display
from traffic_lam.replay.frames import DEFAULT_FPS, write_gif
from traffic_lam.replay.recorder import FRAME_SIZE, drive
from traffic_lam.signals import SignalLayout, read_signal_layouts

LIVE_DELAY_MS = 100
"""sumo-gui's delay per simulation step when watched live, ms (its slider changes it)."""


@dataclass(frozen=True)
class Replayed:
    """What a replay did.

    Attributes:
        label: the controller's label in the run.
        frames: decisions driven.
        animation: the GIF written (None when watched live).
    """

    label: str
    frames: int
    animation: Path | None = None


def run_scenario_file(run_dir: str | Path) -> Scenario:
    """The scenario of a run folder (its ``scenario.yaml``).

    Raises:
        ConfigError: not a run folder; ScenarioError: the file does not validate.
    """
    path = Path(run_dir) / "scenario.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run folder (no scenario.yaml): run a scenario into it first")
    return load_scenario(path)


def run_controller(run_dir: str | Path, scenario: Scenario, label: str) -> Controller:
    """The controller ``label`` of the run: its trained model for a learner, else built from its scenario entry.

    Raises:
        ConfigError: no such label; ControllerError: the learner is not trained (or not that kind).
    """
    from traffic_lam.experiments.runner import FINAL_SUFFIX, labelled_model

    spec = _spec(run_dir, scenario, label.removesuffix(FINAL_SUFFIX))
    controller = make_controller(spec.type, spec.args)
    if not controller.needs_training:
        return controller
    path = labelled_model(run_dir, label)
    try:
        read_document(path)
    except ControllerError:
        raise ControllerError(f"{path}: '{label}' is not trained yet (run the scenario first)") from None
    trained = load(path)
    if trained.name != controller.name:
        raise ControllerError(f"{path}: holds controller '{trained.name}', but '{label}' is a '{controller.name}' here")
    return trained


def _spec(run_dir: str | Path, scenario: Scenario, label: str) -> ControllerSpec:
    for spec in scenario.controllers:
        if spec.name == label:
            return spec
    labels = ", ".join(spec.name for spec in scenario.controllers)
    raise ConfigError(f"controller: no '{label}' in {Path(run_dir) / 'scenario.yaml'} (labels: {labels})")


def replay(
    run_dir: str | Path, label: str, seed: int = 0, *, live: bool = False, begin: float | None = None,
    end: float | None = None, out: str | Path | None = None, fps: float = DEFAULT_FPS, delay_ms: int = LIVE_DELAY_MS,
) -> Replayed:  # fmt: skip
    """Drive the run's controller ``label`` for one episode in sumo-gui.

    Live (``live`` and a display): sumo-gui's window, ``delay_ms`` per step, from ``begin``
    to ``end`` (default: the scenario's period). Otherwise an animation: sumo-gui under Xvfb
    (on Linux), a screenshot per decision with a panel of every signal's green and queue,
    written as a GIF to ``out`` (default ``RUN_DIR/replays/<label>-seed<S>.gif``), over
    ``begin`` .. ``end`` (default: the first 300 s of the scenario, see
    :meth:`~traffic_lam.experiments.schema.Replay.period`).

    Raises:
        TrafficLamError: one line, before anything starts or is written: not a run folder, an
            unknown label, an untrained learner, a bad seed, period or ``out``, no Xvfb
            (:class:`~traffic_lam.replay.display.NoDisplayError`).
    """
    scenario = run_scenario_file(run_dir)
    controller = run_controller(run_dir, scenario, label)
    live = live and display.has_display()
    period = Replay(seed=seed, begin=begin, end=end)
    config, layouts = _gui_config(scenario, controller, period, live, delay_ms)
    if live:
        return Replayed(label, _play(config, layouts, controller, seed))
    target = Path(out) if out is not None else Path(run_dir) / "replays" / f"{label}-seed{seed}.gif"
    if target.suffix.lower() != ".gif":
        raise ConfigError(f"out: expected a .gif file, got {target}")
    if not fps > 0:
        raise ConfigError(f"fps: expected a number > 0, got {fps}")
    if display.needs_xvfb():
        display.xvfb_binary()
    ensure_writable_dir(target.parent, "out")
    with display.virtual_display():
        frames = _play(config, layouts, controller, seed, target, fps, f"{label} · seed {seed}")
    return Replayed(label, frames, target)


def _gui_config(
    scenario: Scenario, controller: Controller, period: Replay, live: bool, delay_ms: int
) -> tuple[EnvConfig, dict[str, SignalLayout]]:
    """The run's environment for ``controller`` in sumo-gui over ``period``, and its signals (checked to fit)."""
    from traffic_lam.env.parallel_env import build_config
    from traffic_lam.experiments.runner import scenario_env_options

    options = scenario_env_options(scenario, controller.env_options())
    own = build_config(scenario.network, **options)
    if live:
        begin = own.begin_time if period.begin is None else period.begin
        end = own.end_time if period.end is None else period.end
    else:
        begin, end = period.period(own.begin_time, own.end_time)
    flags = list(options.get("sumo_options") or ())
    width, height = FRAME_SIZE
    wanted = {"--delay": str(delay_ms if live else 0), "--window-size": f"{width + 40},{height + 120}"}
    flags += [word for flag, value in wanted.items() if flag not in flags for word in (flag, value)]
    options.update(begin_time=begin, end_time=end, gui=True, sumo_options=flags)
    config = build_config(scenario.network, **options)
    layouts = read_signal_layouts(config.network.net_file, config.network.additional_files, config.signals)
    controller.check_network(config.network, layouts)
    return config, layouts


def _play(
    config: EnvConfig, layouts: dict[str, SignalLayout], controller: Controller, seed: int,
    target: Path | None = None, fps: float = DEFAULT_FPS, title: str = "",
) -> int:  # fmt: skip
    """Drive one episode (recording into ``target`` when given); return the decisions driven."""
    from traffic_lam.env.parallel_env import TrafficSignalEnv

    with tempfile.TemporaryDirectory(prefix="traffic_lam-replay-") as scratch:
        folder = Path(scratch)
        extra = controller.additional_xml(config.network, layouts)
        if extra is not None:  # programs the controller needs SUMO to load (actuated)
            atomic_write_text(folder / "controller.add.xml", extra)
            files = (*config.network.additional_files, folder / "controller.add.xml")
            config = replace(config, network=replace(config.network, additional_files=files))
        env = TrafficSignalEnv(config)
        controller.setup(env)
        pictures, frames = drive(env, controller, seed, folder if target is not None else None)
        if target is not None:
            write_gif(pictures, frames, target, fps, title)
    return len(frames)


def record_clips(run_dir: str | Path, fps: float = DEFAULT_FPS) -> dict[str, Path]:
    """Record the clips the run's scenario asks for (its ``replay`` section) into ``RUN_DIR/replays/<label>.gif``.

    A clip that cannot be recorded (no Xvfb, an untrained learner ...) is skipped with one
    warning; the others are still recorded. A folder without a ``scenario.yaml`` (a scenario
    built in code, a comparison folder) has no clips.

    Returns:
        ``{label: GIF}`` of the clips written (empty without a ``replay`` section or a ``scenario.yaml``).
    """
    folder = Path(run_dir)
    if not _asks_for_replay(folder / "scenario.yaml"):
        return {}
    try:
        scenario = run_scenario_file(folder)
    except TrafficLamError as exc:
        warnings.warn(f"replay: no clips: {exc}", stacklevel=2)
        return {}
    section = scenario.replay
    if section is None:
        return {}
    clips: dict[str, Path] = {}
    for label in clip_labels(scenario):
        target = folder / "replays" / f"{label}.gif"
        try:
            replay(folder, label, section.seed, begin=section.begin, end=section.end, out=target, fps=fps)
        except TrafficLamError as exc:
            warnings.warn(f"replay: no clip of '{label}': {exc}", stacklevel=2)
            continue
        clips[label] = target
    return clips


def _asks_for_replay(path: Path) -> bool:
    """Whether the scenario file has a ``replay`` section (read without validating the rest)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("replay") is not None


def clip_labels(scenario: Scenario) -> list[str]:
    """The labels the scenario's ``replay`` section names (``all-learners``: every controller that needs training)."""
    if scenario.replay is None:
        return []
    wanted = scenario.replay.controllers
    if wanted != ALL_LEARNERS:
        return list(wanted)
    return [spec.name for spec in scenario.controllers if make_controller(spec.type, spec.args).needs_training]
