"""The one ``traffic-lam`` parser: every command as an argparse subcommand, each with a description and examples."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from traffic_lam.cli import catalogue, demos, episodes, experiments, models, osm, replay
from traffic_lam.cli.options import PROG, examples, paragraph


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line, ``traffic-lam: error: ...``, with exit code 2.

    The subcommands' parsers are of this class too (argparse makes them of the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and where the help is, and exit with code 2."""
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Parse ``args``; arguments nobody takes are reported by the command they were given to."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self._command(getattr(parsed, "command", None)).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def _command(self, name: str | None) -> argparse.ArgumentParser:
        """The parser of the subcommand ``name`` (this parser when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        return self


def build_parser() -> OneLineParser:
    """The ``traffic-lam`` parser with every command; each parsed command carries its ``handler``."""
    parser = OneLineParser(
        prog=PROG,
        description=paragraph(
            "Multi-agent traffic signal control on Eclipse SUMO: run scenarios (train, evaluate, report), "
            "evaluate one controller, simulate simple policies, inspect networks."
        ),
        epilog=examples(
            "traffic-lam run scenarios/quickstart.yaml --workers 2",
            "traffic-lam evaluate single-intersection --controller max-pressure --episodes 3",
            "traffic-lam list",
        )
        + f"\n\nRun '{PROG} COMMAND --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    experiments.add_commands(commands)
    episodes.add_commands(commands)
    replay.add_commands(commands)
    catalogue.add_commands(commands)
    models.add_commands(commands)
    osm.add_commands(commands)
    demos.add_commands(commands)
    return parser
