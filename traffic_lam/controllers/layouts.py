"""The signals a learner was built for, checked against an environment's: one line naming the first difference.

A trained learner reads observations and writes actions of fixed sizes, one per signal,
in a fixed order. Evaluated on another network (other signal ids, other lanes, other
greens) its tensors no longer line up; :func:`check_layout` says what differs::

    batched-q: trained on signals t, this network (grid2x2) has A0..D3 (4 signals)
    dqn: observation of 12 features at signal A0, trained on 33
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from traffic_lam.errors import ControllerError

Spaces = Callable[[str], Any]
"""Looks up a signal's space by its id (``env.observation_space``, ``spaces.__getitem__``)."""

_LISTED = 3
"""Signal ids written out in a message; longer lists show as ``first..last (n signals)``."""


@dataclass(frozen=True)
class SignalSizes:
    """Signal ids in order, with each signal's observation size and number of actions (greens)."""

    agents: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    action_sizes: tuple[int, ...]

    @classmethod
    def of(cls, agents: Sequence[str], obs_sizes: Sequence[int], action_sizes: Sequence[int]) -> SignalSizes:
        """Build from any sequences (lists read back from JSON ...)."""
        return cls(tuple(agents), tuple(int(s) for s in obs_sizes), tuple(int(n) for n in action_sizes))

    @classmethod
    def from_spaces(cls, agents: Sequence[str], observation_space: Spaces, action_space: Spaces) -> SignalSizes:
        """The sizes of ``agents`` in their spaces (each looked up by signal id)."""
        return cls.of(
            agents,
            [int(observation_space(a).shape[0]) for a in agents],
            [int(action_space(a).n) for a in agents],
        )

    def difference(self, found: SignalSizes, network: str | None = None) -> str | None:
        """What ``found`` (an environment's) has that differs from these trained sizes, or None when nothing.

        Args:
            found: the environment's signals and sizes.
            network: the environment's network name, for the message.
        """
        if found.agents != self.agents:
            where = f" ({network})" if network else ""
            if sorted(found.agents) == sorted(self.agents):
                listed = ", ".join(found.agents)
                return f"trained on signals {', '.join(self.agents)} in this order, this network{where} has {listed}"
            return f"trained on signals {signal_ids(self.agents)}, this network{where} has {signal_ids(found.agents)}"
        for agent, size, trained in zip(self.agents, found.obs_sizes, self.obs_sizes, strict=True):
            if size != trained:
                return f"observation of {size} features at signal {agent}, trained on {trained}"
        for agent, size, trained in zip(self.agents, found.action_sizes, self.action_sizes, strict=True):
            if size != trained:
                return f"signal {agent} has {size} greens, trained on {trained}"
        return None


def signal_ids(agents: Sequence[str]) -> str:
    """``"t"``, ``"A0, A1"``, or ``"A0..D3 (16 signals)"`` for longer lists."""
    if len(agents) <= _LISTED:
        return ", ".join(agents) if agents else "(none)"
    return f"{agents[0]}..{agents[-1]} ({len(agents)} signals)"


def network_name(env: Any) -> str | None:
    """The name of the network ``env`` simulates (None when it does not say)."""
    network = getattr(getattr(env, "config", None), "network", None)
    return getattr(network, "name", None)


def check_layout(learner: str, trained: SignalSizes, found: SignalSizes, network: str | None = None) -> None:
    """Raise when the signals ``found`` in an environment differ from those ``learner`` was trained on.

    Args:
        learner: the learner's name (starts the message).
        trained: the signals and sizes it was built for.
        found: the environment's (:meth:`SignalSizes.from_spaces`), in the learner's order of ids.
        network: the environment's network name, for the message (:func:`network_name`).

    Raises:
        ControllerError: one line naming the first difference (signal ids, an observation size, a green count).
    """
    difference = trained.difference(found, network)
    if difference is not None:
        raise ControllerError(f"{learner}: {difference}")
