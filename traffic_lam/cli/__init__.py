"""``traffic-lam`` command line: one argparse parser, one module per group of commands.

* :mod:`~traffic_lam.cli.experiments`: ``run``, ``compare``;
* :mod:`~traffic_lam.cli.episodes`: ``evaluate`` (also ``python -m traffic_lam.evaluation``), ``simulate``;
* :mod:`~traffic_lam.cli.catalogue`: ``list``, ``check-network``, ``schema``.

Bad arguments and bad input (any :class:`~traffic_lam.errors.TrafficLamError`) give one line
``traffic-lam: error: ...`` on stderr and exit code 2. A warning raised while a command runs
is one line ``traffic-lam: warning: ...`` on stderr (not Python's file, line and source
line); Python's own way of showing warnings is restored when the command returns.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

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
    shown_before = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        return int(args.handler(args))
    except TrafficLamError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown_before


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A :func:`warnings.showwarning` for the command line: one line ``traffic-lam: warning: <message>``."""
    text = " ".join(str(message).split())
    stream = sys.stderr if file is None else file
    with contextlib.suppress(OSError):  # stderr closed or gone, as warnings.showwarning itself tolerates
        print(f"{PROG}: warning: {text}", file=stream)


__all__ = ["main"]
