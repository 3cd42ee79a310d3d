"""``python -m traffic_lam.evaluation``: the ``traffic-lam evaluate`` command under its older name.

The command and its flags live in the one ``traffic-lam`` parser (:mod:`traffic_lam.cli.episodes`);
this forwards to it, so both spellings take the same flags and give the same one-line errors.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``traffic-lam evaluate ARGV``; returns the exit code (bad input: one line, exit code 2).

    Args:
        argv: the arguments after ``evaluate`` (default: ``sys.argv[1:]``).
    """
    from traffic_lam.cli import main as cli_main  # the command line sits above this package: import when called

    return cli_main(["evaluate", *(sys.argv[1:] if argv is None else argv)])
