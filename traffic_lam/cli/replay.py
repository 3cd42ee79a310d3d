"""``traffic-lam replay``: watch a run's controller drive, live in sumo-gui or as an animated GIF."""

from __future__ import annotations

import argparse
import sys

from traffic_lam.cli.options import PROG, add_command


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``replay``."""
    from traffic_lam.replay.frames import DEFAULT_FPS
    from traffic_lam.replay.play import LIVE_DELAY_MS

    p = add_command(
        commands,
        "replay",
        summary="watch a run's controller drive: sumo-gui live, or an animated GIF recorded under Xvfb",
        description="Drive one episode with a controller of a run folder (a learner's trained model, or a classic "
        "controller as the run's scenario.yaml configures it). With --gui and a display: sumo-gui live. Otherwise "
        "(no display, or no --gui): an animated GIF, sumo-gui under Xvfb with a screenshot per decision and a panel "
        "of every signal's green and queue (apt-get install xvfb).",
        usage_examples=[
            "traffic-lam replay runs/quickstart --controller batched-q --seed 0",
            "traffic-lam replay runs/quickstart --controller max-pressure --begin 600 --end 900 --out mp.gif",
            "traffic-lam replay runs/quickstart --controller batched-q --gui",
        ],
        handler=replay_command,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (written by traffic-lam run)")
    p.add_argument("--controller", required=True, metavar="LABEL", help="the controller's label in the run")
    p.add_argument("--seed", type=int, default=0, help="SUMO seed (default: 0)")
    p.add_argument("--gui", action="store_true", help="watch live in sumo-gui (needs a display)")
    p.add_argument("--begin", type=float, help="begin time, s (default: the scenario's)")
    p.add_argument(
        "--end", type=float, help="end time, s (default: live, the scenario's; an animation, 300 s after begin)"
    )
    p.add_argument("--out", metavar="FILE", help="the GIF to write (default: RUN_DIR/replays/LABEL-seedS.gif)")
    p.add_argument(
        "--fps", type=float, default=DEFAULT_FPS, help=f"frames (decisions) per second (default: {DEFAULT_FPS:g})"
    )
    p.add_argument(
        "--delay",
        type=int,
        default=LIVE_DELAY_MS,
        metavar="MS",
        help=f"live: ms per simulated second (default: {LIVE_DELAY_MS})",
    )


def replay_command(args: argparse.Namespace) -> int:
    """``traffic-lam replay``: drive the run's controller live, or record its animation; print what was written."""
    from traffic_lam.replay import display
    from traffic_lam.replay.play import replay

    if args.gui and not display.has_display():
        print(f"{PROG}: no display (DISPLAY is not set): recording an animation instead", file=sys.stderr)
    done = replay(args.run_dir, args.controller, args.seed, live=args.gui, begin=args.begin, end=args.end,
                  out=args.out, fps=args.fps, delay_ms=args.delay)  # fmt: skip
    if done.animation is None:
        print(f"replayed {done.label}: {done.frames} decisions")
    else:
        print(f"animation: {done.animation} ({done.frames} frames, {args.fps:g} per second)")
    return 0
