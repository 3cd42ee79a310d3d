"""``traffic-lam`` command line: one argparse parser, one module per group of commands.

* :mod:`~traffic_lam.cli.experiments`: ``run``, ``compare``;
* :mod:`~traffic_lam.cli.episodes`: ``evaluate`` (also ``python -m traffic_lam.evaluation``), ``simulate``;
* :mod:`~traffic_lam.cli.catalogue`: ``list``, ``check-network``, ``schema``.

Bad arguments and bad input (any :class:`~traffic_lam.errors.TrafficLamError`) give one line
``traffic-lam: error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from traffic_lam.cli.options import PROG
from traffic_lam.cli.parser import build_parser
from traffic_lam.errors import TrafficLamError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``traffic-lam`` console script; returns the exit code.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when some jobs of a run failed, 2 on bad input, 130 when interrupted.
        ``--help`` and bad arguments exit through :class:`SystemExit` (codes 0 and 2), as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except TrafficLamError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


__all__ = ["main"]
