"""Drive one episode in sumo-gui, the view on the controlled junctions, with a screenshot per decision.

sumo-gui runs under TraCI (``gui=True`` forces the TraCI backend), so the environment's
simulation lives in this process and its connection takes sumo-gui's view commands
(``gui.setBoundary``, ``gui.screenshot``). A screenshot asked for at a decision is
written by sumo-gui during the next simulation step, so the picture of decision ``t``
shows the simulation one second later, the decision applied (a switch starts its yellow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traffic_lam.controllers import Controller
from traffic_lam.env.parallel_env import TrafficSignalEnv
from traffic_lam.errors import SimulationError
from traffic_lam.replay.frames import FrameInfo, frame_info

VIEW = "View #0"
"""sumo-gui's main view."""

FRAME_SIZE = (800, 600)
"""Width and height of a screenshot, px."""

VIEW_MARGIN_M = 60.0
"""Metres shown around the controlled junctions' stop lines (room for the queues)."""


def gui_connection(env: TrafficSignalEnv) -> Any:
    """The TraCI connection of ``env``'s open sumo-gui simulation.

    Raises:
        SimulationError: ``env`` is not a gui environment with an open simulation.
    """
    engine = getattr(env, "_engine", None)  # gui runs in this process: the engine is local, never a worker
    sim = getattr(engine, "_sim", None)
    if not env.config.gui or sim is None or not hasattr(sim, "gui"):
        raise SimulationError("replay: the environment has no open sumo-gui connection (gui=True, after reset)")
    return sim


def zoom_to_signals(sim: Any, signals: list[str], margin: float = VIEW_MARGIN_M) -> None:
    """Fit sumo-gui's view to the stop lines of ``signals``' incoming lanes, ``margin`` metres around them."""
    points = [sim.lane.getShape(lane)[-1] for sid in signals for lane in sim.trafficlight.getControlledLanes(sid)]
    if not points:
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    sim.gui.setBoundary(VIEW, min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin)


def drive(
    env: TrafficSignalEnv,
    controller: Controller,
    seed: int,
    frames_dir: Path | None = None,
    size: tuple[int, int] = FRAME_SIZE,
) -> tuple[list[Path], list[FrameInfo]]:
    """Run one episode of ``controller`` in ``env`` (sumo-gui), the view zoomed to the controlled junctions.

    The controller must be set up on ``env`` (:meth:`Controller.setup`). The simulation is
    closed at the end (sumo-gui quits).

    Args:
        env: a gui environment (``gui=True``).
        controller: the policy.
        seed: SUMO seed.
        frames_dir: where to write a screenshot per decision (None: none, e.g. live).
        size: screenshot width and height, px.

    Returns:
        The screenshots written (in order; empty without ``frames_dir``) and every decision's frame info.

    Raises:
        SimulationError: sumo-gui wrote none of the screenshots asked for.
    """
    observations, infos = env.reset(seed=seed)
    controller.reset()
    greens = {sid: layout.greens for sid, layout in env.layouts.items()}
    pictures: list[Path] = []
    frames: list[FrameInfo] = []
    try:
        sim = gui_connection(env)
        zoom_to_signals(sim, env.possible_agents)
        while env.agents:
            if frames_dir is not None:
                pictures.append(frames_dir / f"{len(frames):05d}.png")
                sim.gui.screenshot(VIEW, str(pictures[-1]), *size)
            time = infos[env.possible_agents[0]]["system"]["time"]
            observations, _, _, _, after = env.step(controller.act(observations, infos))
            frames.append(frame_info(time, infos, after, greens))
            infos = after
    finally:
        env.close()
    if frames_dir is None:
        return [], frames
    kept = [(p, f) for p, f in zip(pictures, frames, strict=True) if p.is_file() and p.stat().st_size > 0]
    if not kept:
        raise SimulationError(f"replay: sumo-gui wrote none of the {len(pictures)} screenshots asked for")
    return [p for p, _ in kept], [f for _, f in kept]
