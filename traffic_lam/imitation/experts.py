"""The expert a learner imitates: any controller, by name, class, instance or saved model.

* classic controllers that read their own observation (greedy: ``wave``, max-pressure:
  ``queue-pressure``) read it from ``infos[id]["expert_observation"]`` while the learner's
  observation is recorded;
* program experts (fixed-time, actuated: ``control = "program"``) send no actions; their
  action at a decision is the green the program shows at the next one;
* a trained learner, loaded from the path it was saved to (:func:`traffic_lam.load`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traffic_lam.controllers import Controller, controller_names, load, make_controller
from traffic_lam.errors import ControllerError


@dataclass
class Expert:
    """A ready expert controller.

    Attributes:
        controller: the controller (trained, when it is a learner).
        model: the path it was loaded from (a saved learner), else None.
    """

    controller: Controller
    model: str | None = None

    @property
    def name(self) -> str:
        """The controller's name (its class name when it has none)."""
        return self.controller.name or type(self.controller).__name__

    @property
    def program(self) -> bool:
        """Whether SUMO runs the lights' programs (no actions to query)."""
        return self.controller.control == "program"

    def observation_spec(self) -> Any:
        """The observation the expert reads (None: none)."""
        return self.controller.observation_spec()

    def describe(self) -> dict[str, Any]:
        """``{"name", "args", "model"}`` as the demonstrations' metadata records it."""
        return {"name": self.name, "args": dict(self.controller.params), "model": self.model}

    def setup(self, env: Any) -> None:
        """Bind the controller to ``env``, seen through its expert observation's spaces."""
        spaces = getattr(env, "expert_observation_spaces", None) or env.observation_spaces
        config = env.config
        if config.expert_observation is not None:
            config = dataclasses.replace(config, observation=config.expert_observation, expert_observation=None)
        self.controller.setup(_ExpertView(list(env.possible_agents), spaces, env.action_spaces, env.layouts, config))

    def actions(self, observations: Mapping[str, Any], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        """The expert's choice at this decision from its own observation (``{}`` for a program)."""
        own = {a: infos[a].get("expert_observation", observations[a]) for a in observations}
        return self.controller.act(own, infos)


@dataclass(frozen=True)
class _ExpertView:
    """What the expert's ``setup`` sees: the environment with the expert's observation spaces."""

    possible_agents: list[str]
    observation_spaces: Mapping[str, Any]
    action_spaces: Mapping[str, Any]
    layouts: Mapping[str, Any]
    config: Any


def make_expert(spec: Any, args: Mapping[str, Any] | None = None) -> Expert:
    """The expert named by ``spec``.

    Args:
        spec: a controller name (``"greedy"``, ``"max-pressure"``, ``"fixed-time"`` ...),
            ``"module:Class"``, a class, an instance, the path of a saved learner, or an :class:`Expert`.
        args: constructor arguments (with a path: overrides of the saved ones, e.g. ``device``).

    Raises:
        ControllerError: unknown name or path, bad arguments, or an untrained learner.
    """
    if isinstance(spec, Expert):
        return spec
    model = None
    if isinstance(spec, str) and spec not in controller_names() and ":" not in spec:
        if not Path(spec).exists():
            known = ", ".join(controller_names())
            raise ControllerError(f"expert '{spec}': neither a controller ({known}) nor a saved model")
        controller, model = load(spec, **dict(args or {})), spec
    else:
        controller = make_controller(spec, None if isinstance(spec, Controller) else dict(args or {}))
    if not controller.trained:
        raise ControllerError(
            f"expert '{controller.name}': not trained; pass the path of a saved model (traffic_lam.load) instead"
        )
    return Expert(controller, model)


def refuse_program(expert: Expert, method: str) -> None:
    """Raise when ``expert`` is a program: it cannot be asked what it would do in a state the student caused.

    Raises:
        ControllerError: one line naming the expert and why.
    """
    if expert.program:
        raise ControllerError(
            f"{method}: expert '{expert.name}' is a signal program run by SUMO (control=program); it cannot be "
            "queried at states the student caused, so it cannot label them: use bc, or an expert that acts "
            "(greedy, max-pressure, a trained learner)"
        )
