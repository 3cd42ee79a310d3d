"""Building blocks the commands share: a subcommand with its examples, the timing flags, given options."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

PROG = "traffic-lam"
"""The program name every usage line and error line starts with."""

TIMING_OPTIONS = {
    "begin": "begin_time",
    "end": "end_time",
    "delta_time": "delta_time",
    "yellow_time": "yellow_time",
    "min_green": "min_green",
    "max_green": "max_green",
}
"""The attribute each timing flag parses into, and the environment option it sets."""

NETWORK_HELP = "bundled name, resco:<map>, folder, .sumocfg or .net.xml"
"""What a NETWORK argument accepts."""

Handler = Callable[[argparse.Namespace], int]


def paragraph(text: str) -> str:
    """``text`` wrapped to the terminal as argparse wraps the rest of the help (descriptions are shown raw)."""
    return textwrap.fill(text, max(shutil.get_terminal_size().columns - 2, 40))


def examples(*lines: str) -> str:
    """The ``examples:`` block that ends a command's ``--help``."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_command(
    commands: argparse._SubParsersAction,
    name: str,
    *,
    summary: str,
    description: str,
    usage_examples: Sequence[str],
    handler: Handler,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``: one-line ``summary`` in the command list, ``description`` and examples in its help.

    Args:
        commands: the top-level parser's subparsers.
        name: the command (``traffic-lam NAME``).
        summary: the line shown next to the name in ``traffic-lam --help``.
        description: the paragraph at the top of ``traffic-lam NAME --help``.
        usage_examples: whole command lines shown under ``examples:``.
        handler: called with the parsed arguments; returns the exit code.

    Returns:
        The command's parser, for its arguments.
    """
    parser = commands.add_parser(
        name,
        help=summary,
        description=paragraph(description),
        epilog=examples(*usage_examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def add_timing_flags(parser: argparse.ArgumentParser) -> None:
    """``--begin/--end/--delta-time/--yellow-time/--min-green/--max-green``, unset unless given.

    An unset flag leaves the environment's own default in force (see :func:`traffic_lam.make_env`).
    """
    parser.add_argument("--begin", type=float, help="begin time, s (default: from the network)")
    parser.add_argument("--end", type=float, help="end time, s (default: from the network)")
    default = "(default: the environment's)"
    parser.add_argument("--delta-time", type=int, help=f"seconds between decisions {default}")
    parser.add_argument("--yellow-time", type=int, help=f"yellow on links losing their green, s {default}")
    parser.add_argument("--min-green", type=int, help=f"shortest green, s {default}")
    parser.add_argument("--max-green", type=int, help=f"longest green, s {default}")


def given_options(args: argparse.Namespace, names: dict[str, str]) -> dict[str, Any]:
    """The options the user gave: ``{option: value}`` for each ``{attribute: option}`` in ``names`` not None."""
    return {
        option: getattr(args, attribute) for attribute, option in names.items() if getattr(args, attribute) is not None
    }
