"""``python -m traffic_lam.evaluation``: evaluate a controller from a shell; one-line errors, exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from traffic_lam.controllers import CONTROLLERS
from traffic_lam.errors import ConfigError, TrafficLamError
from traffic_lam.evaluation.run import evaluate, records_csv, resco_protocol


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m traffic_lam.evaluation",
        description="Evaluate a controller on a network; print one row of scores per episode.",
    )
    parser.add_argument("network", help="bundled name, resco:<map>, folder, .sumocfg or .net.xml")
    parser.add_argument("--controller", default="fixed-time", help=f"{', '.join(CONTROLLERS)} or module:Class")
    parser.add_argument("--episodes", default="1", help="number of episodes (default 1)")
    parser.add_argument("--seed", default="0", help="seed of the first episode; episode i uses seed + i")
    parser.add_argument("--out", help="run folder for SUMO's outputs and the CSV (default: a temporary folder)")
    parser.add_argument("--ssm", action="store_true", help="count SSM conflicts (≈ 2.3× slower)")
    parser.add_argument("--resco", action="store_true", help="RESCO protocol: 10 s decisions, 3 s yellow ...")
    parser.add_argument("--begin", type=float, help="begin time (default: from the network)")
    parser.add_argument("--end", type=float, help="end time (default: from the network)")
    parser.add_argument("--delta-time", type=int)
    parser.add_argument("--yellow-time", type=int)
    parser.add_argument("--min-green", type=int)
    parser.add_argument("--max-green", type=int)
    return parser


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: evaluate, print the records; errors are one line with exit code 2."""
    args = _parser().parse_args(argv)
    prog = "traffic_lam.evaluation"
    try:
        options: dict[str, Any] = resco_protocol(args.network) if args.resco else {}
        for key, value in (
            ("begin_time", args.begin),
            ("end_time", args.end),
            ("delta_time", args.delta_time),
            ("yellow_time", args.yellow_time),
            ("min_green", args.min_green),
            ("max_green", args.max_green),
        ):
            if value is not None:
                options[key] = value
        records = evaluate(
            args.network,
            args.controller,
            episodes=_integer("episodes", args.episodes),
            seed=_integer("seed", args.seed),
            out_dir=args.out,
            ssm=args.ssm,
            **options,
        )
    except TrafficLamError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    print(records_csv(records), end="")
    return 0
