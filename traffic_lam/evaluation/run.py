"""Evaluate a controller on a network: one :class:`~traffic_lam.metrics.EpisodeRecord` per episode.

Every controller, classic or learning, is scored by the same code path: the same
environment steps SUMO (agent control, or the lights' own programs under program
control), the same per-step counters are summed, and SUMO's own tripinfo,
statistic and (optionally) SSM outputs of every episode are kept in the run folder
so that anyone can recompute the figures::

    records = traffic_lam.evaluate("resco:grid4x4", "max-pressure", episodes=3, seed=0,
                                   out_dir="runs/mp", **traffic_lam.resco_protocol("resco:grid4x4"))

Files written into ``out_dir`` (each written under a temporary name and renamed when
complete, so a failure never leaves a half-written file or clobbers an earlier one):

* ``<controller>-<network>-seed<S>.tripinfo.xml``: every vehicle's trip (running and
  never-inserted ones included), the source of delay, travel and waiting time;
* ``<controller>-<network>-seed<S>.statistics.xml``: SUMO's statistic output (emergency braking);
* ``<controller>-<network>-seed<S>.ssm.xml`` and ``ssm-edges.txt``: with ``ssm=True``;
* ``<controller>.add.xml``: programs a controller asked SUMO to load (actuated);
* ``<controller>-<network>.csv``: the records of this call.

Run ``python -m traffic_lam.evaluation NETWORK --controller NAME ...`` for the same from a shell
(:mod:`traffic_lam.evaluation.command`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.controllers import Controller, make_controller
from traffic_lam.env.config import EnvConfig
from traffic_lam.env.parallel_env import MAX_SEED, TrafficSignalEnv, build_config
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_write_text, ensure_writable_dir
from traffic_lam.metrics import (
    METRICS,
    Catalog,
    Episode,
    EpisodeRecord,
    Metric,
    SSMSettings,
    read_ssm,
    read_statistics,
    read_tripinfo,
    tripinfo_options,
    yellow_warnings,
)
from traffic_lam.metrics.ssm import edge_selection, junction_edges
from traffic_lam.metrics.statistics import statistics_options
from traffic_lam.signals import SignalLayout, read_signal_layouts
from traffic_lam.sim.network import NetworkSpec
from traffic_lam.validation import require_int

_OWN_FLAGS = ("--tripinfo-output", "--statistic-output", "--device.ssm.")
"""SUMO flags evaluate() sets itself; a user's sumo_options may not set them too."""


def resco_protocol(network: str | NetworkSpec) -> dict[str, Any]:
    """Environment options of the RESCO protocol (``docs/definitions.md``) for ``network``.

    10 s decisions with a 3 s yellow inside them (``resco:arterial4x4``: 5 s / 2 s), no
    all-red, no minimum green beyond one decision and no maximum green (RESCO has
    neither), no teleporting. Begin and end come from the map's ``.sumocfg``.
    RESCO runs SUMO with ``--random``; we pass an explicit ``--seed`` per episode instead,
    so runs are reproducible.
    """
    name = network.name if isinstance(network, NetworkSpec) else str(network)
    delta, yellow = (5, 2) if name.endswith("arterial4x4") else (10, 3)
    return {
        "delta_time": delta,
        "yellow_time": yellow,
        "all_red_time": 0,
        "min_green": delta - yellow,
        "max_green": 86400,
        "time_to_teleport": -1,
    }


def evaluate(
    network: str | Path | NetworkSpec,
    controller: str | type[Controller] | Controller = "fixed-time",
    *,
    episodes: int = 1,
    seed: int = 0,
    out_dir: str | Path | None = None,
    ssm: bool | SSMSettings = False,
    controller_options: Mapping[str, Any] | None = None,
    label: str | None = None,
    metrics: Iterable[Metric] = (),
    **env_options: Any,
) -> list[EpisodeRecord]:
    """Run ``episodes`` episodes of ``controller`` on ``network`` and score each.

    Args:
        network: anything :func:`traffic_lam.make_env` accepts (bundled name,
            ``"resco:<map>"``, folder, ``.sumocfg``, ``.net.xml`` with ``route_file=``).
        controller: a name of :data:`traffic_lam.controllers.CONTROLLERS`
            (``fixed-time``, ``actuated``, ``max-pressure``, ``greedy``), ``"module:Class"``,
            a :class:`~traffic_lam.controllers.Controller` subclass, or an instance (a
            trained learner). Learners are not trained here: pass one that has learned
            (``learn``) or was loaded (``traffic_lam.evaluate(network, traffic_lam.load(path))``);
            an untrained one is refused.
        episodes: number of episodes (>= 1).
        seed: SUMO seed of the first episode; episode ``i`` uses ``seed + i``.
        out_dir: run folder that keeps every episode's SUMO outputs and a CSV of the
            records; None writes them to a temporary folder that is removed afterwards
            (then ``tripinfo_file`` is None in the records).
        ssm: True (or :class:`~traffic_lam.metrics.SSMSettings` thresholds) to count SSM
            conflicts near the controlled junctions; expensive (``scripts/benchmark_ssm.py``).
        controller_options: keyword arguments for the controller's constructor (with a
            name or class).
        label: controller name in the records and file names (default: the controller's name).
        metrics: metrics to compute besides the built-in ones (:data:`~traffic_lam.metrics.METRICS`),
            each a :class:`~traffic_lam.metrics.Metric` declaration; their values go to each
            record's ``extra`` and its row (:meth:`~traffic_lam.metrics.EpisodeRecord.to_row`).
        **env_options: options of :func:`traffic_lam.make_env` (``delta_time``,
            ``yellow_time``, ``begin_time``, ``end_time``, ``sumo_options`` ...); see
            :func:`resco_protocol`. ``control`` and ``observation`` come from the controller; a
            loaded learner must run with the timing it was trained with (``traffic-lam evaluate
            --model`` reads it from the run folder).

    Returns:
        One record per episode, in order.

    Raises:
        traffic_lam.errors.TrafficLamError: one line, before any simulation starts, for
            an unknown controller, an untrained learner, a controller that does not fit the
            network, a bad seed, option or metric declaration, or an unwritable ``out_dir``
            (nothing in it is touched then).

    """
    require_int("episodes", episodes, 1)
    require_int("seed", seed, 0)
    if seed + episodes - 1 > MAX_SEED:
        raise ConfigError(f"seed: seed + episodes - 1 must be <= {MAX_SEED} (SUMO's range), got {seed + episodes - 1}")
    settings = _ssm_settings(ssm)
    extra = _extra_metrics(metrics)
    ctrl = _trained_controller(controller, controller_options)
    options = _env_options(ctrl, env_options)
    config = build_config(network, **options)
    layouts = read_signal_layouts(config.network.net_file, config.network.additional_files, config.signals)
    ctrl.check_network(config.network, layouts)
    name = _checked_label(label or ctrl.name or type(ctrl).__name__)
    extra_xml = ctrl.additional_xml(config.network, layouts)

    with contextlib.ExitStack() as stack:
        if out_dir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="traffic_lam-eval-")))
        else:
            folder = ensure_writable_dir(out_dir, "out_dir")
        config, edges_file = _write_inputs(folder, config, layouts, extra_xml, name, ssm=settings is not None)
        env = TrafficSignalEnv(config)
        stack.callback(env.close)
        ctrl.setup(env)  # a learner refuses signals it was not trained for: before any warning
        program = config.control == "program"
        yellow = yellow_warnings(env.layouts, None if program else config.timing.yellow_time)
        if yellow:
            warnings.warn(f"{len(yellow)} signal(s) with a short yellow, e.g. {yellow[0]}", stacklevel=2)
        stem = f"{name}-{_safe(config.network.name)}"
        scoring = _Scoring(name, folder, stem, settings, edges_file, len(yellow), extra)
        records = [_run_episode(env, ctrl, scoring, episode, seed + episode) for episode in range(episodes)]
        if out_dir is None:
            records = [replace(r, tripinfo_file=None) for r in records]
        else:
            atomic_write_text(folder / f"{stem}.csv", records_csv(records))
    return records


def _trained_controller(
    controller: str | type[Controller] | Controller, options: Mapping[str, Any] | None
) -> Controller:
    """The controller to evaluate; one that has not learned is refused (never a silent random policy)."""
    ctrl = make_controller(controller, options)
    if not ctrl.trained:
        raise ControllerError(
            f"controller '{ctrl.name}' is not trained: train it (learn(), traffic-lam run) or load a saved one "
            "(traffic_lam.load(path), traffic-lam evaluate --model PATH)"
        )
    return ctrl


def _checked_label(name: str) -> str:
    """``name`` if it can be part of a file name."""
    if not re.fullmatch(r"[\w.+-]+", name):
        raise ConfigError(f"label: expected letters, digits, '.', '_', '+' or '-', got {name!r}")
    return name


def _write_inputs(
    folder: Path, config: EnvConfig, layouts: Mapping[str, SignalLayout], extra_xml: str | None, name: str, ssm: bool
) -> tuple[EnvConfig, Path | None]:
    """Write the controller's SUMO programs and the SSM edge selection into ``folder``.

    Returns:
        The configuration loading the programs, and the edge selection file (None without SSM).

    """
    if extra_xml is not None:
        extra_file = folder / f"{name}.add.xml"
        atomic_write_text(extra_file, extra_xml)
        spec = config.network
        config = replace(config, network=replace(spec, additional_files=(*spec.additional_files, extra_file)))
    if not ssm:
        return config, None
    edges_file = folder / "ssm-edges.txt"
    atomic_write_text(edges_file, edge_selection(junction_edges(config.network.net_file, layouts)))
    return config, edges_file


def records_csv(records: Sequence[EpisodeRecord]) -> str:
    """CSV text (header + one row per record) of ``records``: the built-in columns, then extra metrics."""
    columns = EpisodeRecord.columns() + list(dict.fromkeys(name for r in records for name in r.extra))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(record.to_row())
    return buffer.getvalue()


@dataclass(frozen=True)
class _Scoring:
    """How every episode of one :func:`evaluate` call is kept and scored."""

    name: str
    folder: Path
    stem: str
    ssm: SSMSettings | None
    edges_file: Path | None
    yellow_warnings: int
    extra: Catalog


def _run_episode(env: TrafficSignalEnv, ctrl: Controller, scoring: _Scoring, episode: int, seed: int) -> EpisodeRecord:
    """Simulate one episode, keep SUMO's outputs in the run folder, then score it by the declared metrics."""
    prefix = f"{scoring.stem}-seed{seed}"
    final = {"tripinfo": f"{prefix}.tripinfo.xml", "statistics": f"{prefix}.statistics.xml"}
    if scoring.ssm is not None:
        final["ssm"] = f"{prefix}.ssm.xml"
    paths = {key: scoring.folder / name for key, name in final.items()}
    partial = {key: path.with_name(f".{path.name}.part") for key, path in paths.items()}
    flags = tripinfo_options(partial["tripinfo"]) + statistics_options(partial["statistics"])
    if scoring.ssm is not None and scoring.edges_file is not None:
        flags += scoring.ssm.sumo_options(partial["ssm"], scoring.edges_file)
    config = env.config
    try:
        start = time.perf_counter()
        counters, queues = _simulate(env, ctrl, seed, flags)
        wall = time.perf_counter() - start
        data = Episode(
            begin=config.begin_time,
            end=config.end_time,
            counters=counters,
            queues=tuple(queues),
            trips=read_tripinfo(partial["tripinfo"]),
            statistics=read_statistics(partial["statistics"]),
            ssm=read_ssm(partial["ssm"], scoring.ssm) if scoring.ssm is not None else None,
            yellow_warnings=scoring.yellow_warnings,
            tripinfo_file=paths["tripinfo"],
        )
        for key, path in partial.items():
            os.replace(path, paths[key])
    finally:
        for path in partial.values():
            with contextlib.suppress(OSError):
                path.unlink()
    return EpisodeRecord(
        controller=scoring.name,
        network=config.network.name,
        seed=seed,
        episode=episode,
        begin=config.begin_time,
        end=config.end_time,
        control=config.control,
        delta_time=config.timing.delta_time,
        yellow_time=config.timing.yellow_time,
        **METRICS.compute(data),
        wall_time_s=wall,
        tripinfo_file=str(data.tripinfo_file),
        sumo_version=data.trips.sumo_version,
        extra=scoring.extra.compute(data),
    )


def _simulate(
    env: TrafficSignalEnv, ctrl: Controller, seed: int, flags: list[str]
) -> tuple[dict[str, float], list[float]]:
    """Run one episode to its end: the summed system counters and the mean queue of every decision step."""
    observations, infos = env.reset(seed=seed, options={"sumo_options": flags})
    ctrl.reset()
    queues: list[float] = []
    while env.agents:
        actions = ctrl.act(observations, infos)
        observations, _, _, _, infos = env.step(actions)
        queues.append(float(np.mean([info["queue"] for info in infos.values()])))
    counters = dict(infos[env.possible_agents[0]]["system"])
    env.close()  # SUMO writes its outputs when it closes
    return counters, queues


def _extra_metrics(metrics: Iterable[Metric]) -> Catalog:
    """The user's metrics as a catalog; refuse names of built-in metrics or record columns."""
    extra = Catalog(tuple(metrics))
    for name in extra.names:
        if name in EpisodeRecord.columns():
            raise ConfigError(f"metrics: {name!r} is already a column of the episode record (a built-in metric?)")
    return extra


def _env_options(ctrl: Controller, options: dict[str, Any]) -> dict[str, Any]:
    """Merge the user's environment options with what the controller needs; refuse clashes."""
    needed = ctrl.env_options()
    merged = dict(options)
    if "control" in merged and merged["control"] != needed["control"]:
        raise ConfigError(
            f"control: controller '{ctrl.name}' needs control={needed['control']!r}, got {merged['control']!r}"
        )
    if "observation" in merged and "observation" in needed and merged["observation"] != needed["observation"]:
        raise ConfigError(
            f"observation: controller '{ctrl.name}' reads its own observation; do not pass observation="
            f"{merged['observation']!r}"
        )
    merged.update(needed)
    # scoring reads no reward: the cheapest one (halting counts, read for the infos anyway)
    # instead of the default diff-waiting-time, which reads every queued vehicle at each decision
    merged.setdefault("reward", "queue")
    flags = merged.get("sumo_options") or ()
    if isinstance(flags, str):
        flags = flags.split()
    for flag in flags:
        if isinstance(flag, str) and flag.startswith(_OWN_FLAGS):
            raise ConfigError(f"sumo_options: {flag} is set by evaluate() itself (outputs go to out_dir)")
    return merged


def _ssm_settings(ssm: bool | SSMSettings) -> SSMSettings | None:
    if isinstance(ssm, SSMSettings):
        return ssm
    if not isinstance(ssm, bool):
        raise ConfigError(f"ssm: expected True, False or SSMSettings, got {ssm!r}")
    return SSMSettings() if ssm else None


def _safe(name: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", name)
