"""The controller interface shared by classic controllers and learners.

Public methods do the bookkeeping and call the ``_hooks`` a subclass fills in
(stable-baselines3's ``on_step`` -> ``_on_step`` pattern):

==========================  ======================================  ==========================
public                      bookkeeping                             hook
==========================  ======================================  ==========================
``setup(env)``              remembers agents and spaces             ``_setup(env)``
``reset()``                 counts episodes, zeroes the step count  ``_reset()``
``act(obs, infos)``         program control: no actions; checks     ``_act(obs, infos)``
                            every agent got an int in range
``learn(make_env, budget)`` no-op unless ``needs_training``          ``_learn(make_env, budget)``
``save(path)``              atomic writes; the document (name,      ``_state()`` (JSON-able),
                            class, params, state, the artefact's    ``_save_artefact(handle)``
                            SHA-256) last
``load(path)``              reads the document, builds the class    ``_restore(state)``,
                            it names, checks the name and the       ``_load_artefact(path)``
                            artefact's SHA-256 before reading it
==========================  ======================================  ==========================

:func:`traffic_lam.controllers.load` reads any saved controller back from its path alone.

Class attributes declare what a controller needs from the environment:

* ``name``: its name in :data:`traffic_lam.controllers.CONTROLLERS` and in results;
* ``control``: ``"agents"`` (it chooses greens through actions) or ``"program"`` (SUMO
  runs the lights' programs and the controller sends nothing: fixed-time, actuated);
* ``observation``: the observation it reads (a name of ``OBSERVATIONS``), or None when
  it reads none and any will do; :meth:`observation_spec` may build an instance
  carrying the controller's own settings (e.g. a detection range);
* ``needs_training``: whether :meth:`learn` must run before evaluation (:attr:`trained` says
  whether it ran, or the controller was loaded);
* ``artefact``: the format of its binary artefact (``"torch"``, ``"sb3-zip"`` ...) or None
  when its document says everything.

Constructors take keyword arguments only, each with a default (scenario YAML passes
them); the base class keeps them in :attr:`params`, which :meth:`save` writes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.checkpoints import sha256_of, verify_file
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.files import atomic_open, atomic_write_text
from traffic_lam.signals import SignalLayout
from traffic_lam.sim.network import NetworkSpec

SAVE_FORMAT = 2
"""Version of the document :meth:`Controller.save` writes (2: with the artefact's ``sha256``)."""


def document_path(path: str | Path, artefact: str | None) -> Path:
    """Where the document of a controller saved at ``path`` is: ``path``, or ``<path>.json`` beside an artefact."""
    target = Path(path)
    return target if artefact is None else target.with_name(target.name + ".json")


def read_document(path: str | Path) -> dict[str, Any]:
    """The document of the controller saved at ``path`` (beside its artefact, or the file itself).

    Raises:
        ControllerError: nothing saved there, or not a controller's document.
    """
    target = Path(path)
    source = document_path(target, "any")
    if not source.is_file():
        source = target
    try:
        document = json.loads(source.read_text())
        if not isinstance(document, dict) or not isinstance(document["controller"], str):
            raise TypeError("no controller name")
        if not isinstance(document["params"], dict):
            raise TypeError("params is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ControllerError(f"{path}: not a saved controller ({exc.__class__.__name__}: {exc})") from None
    return document


def verify_artefact(path: str | Path, document: Mapping[str, Any]) -> None:
    """Check the artefact at ``path`` against the SHA-256 its document records (before anything reads it).

    Raises:
        ControllerError: one line naming the file: it changed after it was saved, or its
            document records no checksum.
    """
    target = Path(path)
    listed_in = document_path(target, "any")
    if "sha256" not in document:
        raise ControllerError(
            f"{target}: {listed_in} records no sha256 of it (saved before checksums were recorded): "
            "refusing to load an unverified artefact"
        )
    verify_file(target, document["sha256"], listed_in)


class _class_only:  # noqa: N801 (a decorator, named like classmethod)
    """Like ``classmethod``, but calling it through an instance raises instead of silently building another."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance: Any, owner: type) -> Callable[..., Any]:
        if instance is None:
            return self.function.__get__(owner, type(owner))

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ControllerError(
                f"{owner.__name__}.load() builds a new controller, it does not fill this one: "
                f"use `controller = traffic_lam.controllers.load(path)`"
            )

        return refuse


class Controller(ABC):
    """Base class of every controller (classic or learning).

    Args:
        **params: the controller's keyword settings (JSON-serialisable values).

    """

    name: ClassVar[str] = ""
    control: ClassVar[str] = "agents"
    observation: ClassVar[str | None] = None
    needs_training: ClassVar[bool] = False
    artefact: ClassVar[str | None] = None

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self.episodes = 0
        self.steps = 0
        self._fitted = False  # set when learn() finished or load() built this controller

    @property
    def trained(self) -> bool:
        """Whether the controller can act as meant (:func:`traffic_lam.evaluate` refuses one that cannot).

        Always for a controller that needs no training; a learner once :meth:`learn` has
        finished or :meth:`load` built it from a save.
        """
        return not self.needs_training or self._fitted

    # ------------------------------------------------------------------ environment needs
    def observation_spec(self) -> Any:
        """The observation the environment must produce for this controller (None: any)."""
        return self.observation

    def env_options(self) -> dict[str, Any]:
        """Options of :func:`traffic_lam.make_env` this controller needs (``control``, ``observation``)."""
        options: dict[str, Any] = {"control": self.control}
        spec = self.observation_spec()
        if spec is not None:
            options["observation"] = spec
        return options

    def check_network(self, network: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> None:
        """Raise :class:`~traffic_lam.errors.ControllerError` if this controller cannot run ``network``.

        Called before any simulation starts. The default accepts every network.
        """
        return None

    def additional_xml(self, network: NetworkSpec, layouts: Mapping[str, SignalLayout]) -> str | None:
        """Text of an additional file SUMO must load for this controller, or None.

        The runner writes it into the run folder and loads it with the network's own
        additional files (e.g. actuated programs).
        """
        return None

    # ------------------------------------------------------------------ episode interface
    def setup(self, env: Any) -> None:
        """Bind to an environment before the first episode.

        Args:
            env: a :class:`~traffic_lam.env.TrafficSignalEnv` or a
                :class:`~traffic_lam.env.VectorSignalEnv` (anything with ``possible_agents``
                and ``action_spaces`` / ``observation_spaces`` dicts).

        """
        self._setup(env)

    def reset(self) -> None:
        """Start of an episode."""
        self.episodes += 1
        self.steps = 0
        self._reset()

    def act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        """Choose one green (action index) per agent.

        Args:
            observations: per agent, its observation.
            infos: per agent, its infos (``action_mask``, ``phase``, ``queue`` ...).

        Returns:
            Per agent, the index of the green to show; ``{}`` under program control.

        Raises:
            ControllerError: the hook returned a missing or invalid action.

        """
        self.steps += 1
        if self.control == "program":
            return {}
        actions = self._act(observations, infos)
        checked: dict[str, int] = {}
        for agent in observations:
            if agent not in actions:
                raise ControllerError(f"controller '{self.name}': no action for agent '{agent}'")
            action = int(actions[agent])
            n = len(infos[agent]["action_mask"])
            if not 0 <= action < n:
                raise ControllerError(f"controller '{self.name}': action {action} for '{agent}' outside 0..{n - 1}")
            checked[agent] = action
        return checked

    def learn(self, make_env: Callable[..., Any] | None = None, budget: TrainingBudget | int = 1) -> None:
        """Train (learners); a no-op for controllers with ``needs_training = False``.

        Args:
            make_env: builds the training environments (an
                :class:`~traffic_lam.env.factory.EnvFactory`).
            budget: a :class:`~traffic_lam.controllers.budget.TrainingBudget`, or a number of
                episodes.

        Raises:
            ConfigError: ``budget`` is neither.

        """
        if self.needs_training:
            self._learn(make_env, TrainingBudget.of(budget))
            self._fitted = True

    def save(self, path: str | Path) -> Path:
        """Write the controller to ``path`` atomically; :func:`traffic_lam.controllers.load` reads it back.

        The *document* (JSON: name, class, :attr:`params`, :meth:`_state`) describes the
        controller. A controller with a binary artefact (``artefact`` is set: network
        weights, an SB3 zip) writes the artefact to ``path`` through
        :meth:`_save_artefact` and the document beside it, at ``<path>.json``, last,
        with the artefact's SHA-256 (``"sha256"``: :meth:`load` refuses an artefact that
        does not match); one without writes the document to ``path``. Each file is
        written under a temporary name and renamed when complete.

        Returns:
            The path written.

        Raises:
            ConfigError: the folder cannot be written.
            ControllerError: the controller has nothing to save (e.g. an untrained learner).

        """
        target = Path(path)
        document = {
            "format": SAVE_FORMAT,
            "controller": self.name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "params": self.params,
            "state": self._state(),
            "artefact": self.artefact,
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if self.artefact is not None:
                with atomic_open(target, "wb", encoding=None) as handle:
                    self._save_artefact(handle)
                document["sha256"] = sha256_of(target)
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            atomic_write_text(document_path(target, self.artefact), text)
        except OSError as exc:
            raise ConfigError(f"{target}: cannot save the controller ({exc.strerror or exc})") from None
        return target

    @_class_only
    def load(cls, path: str | Path, **overrides: Any) -> Controller:  # noqa: N805
        """Rebuild a controller of this class saved by :meth:`save` (a class method only).

        ``Controller.load(path)`` accepts any saved controller (as
        :func:`traffic_lam.controllers.load`); ``Greedy.load(path)`` only a saved greedy.
        ``instance.load(path)`` raises: loading builds a new controller, it does not fill
        the instance.

        Args:
            path: what :meth:`save` returned.
            **overrides: constructor arguments replacing the saved ones (e.g. ``device``).

        Raises:
            ControllerError: the file is missing, unreadable, holds another controller, or
                its artefact does not match the SHA-256 its document records.

        """
        document = read_document(path)
        if cls.name and document["controller"] != cls.name:
            raise ControllerError(f"{path}: holds controller '{document['controller']}', not '{cls.name}'")
        if cls is Controller or not cls.name:
            from traffic_lam.controllers import controller_class  # the registry sits above this module

            cls = controller_class(document["controller"], document.get("class"))
        return cls._from_document(Path(path), document, overrides)

    @classmethod
    def _from_document(cls, path: Path, document: Mapping[str, Any], overrides: Mapping[str, Any]) -> Controller:
        """Build, restore the state, then verify and load the artefact (the order every controller follows)."""
        if document.get("artefact") is not None:
            verify_artefact(path, document)
        controller = cls(**{**document["params"], **overrides})
        controller._restore(document.get("state"))
        if document.get("artefact") is not None:
            controller._load_artefact(path)
        controller._fitted = True
        return controller

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ hooks
    def _setup(self, env: Any) -> None:
        """Hook: called by :meth:`setup`."""
        return None

    def _reset(self) -> None:
        """Hook: called by :meth:`reset`."""
        return None

    @abstractmethod
    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        """Hook: one action per agent (not called under program control)."""

    def _learn(self, make_env: Callable[..., Any] | None, budget: TrainingBudget) -> None:
        """Hook: training (learners override)."""
        raise ControllerError(f"controller '{self.name}' declares needs_training but implements no _learn")

    def _state(self) -> Any:
        """Hook: JSON-serialisable state to save beyond :attr:`params` (learners: e.g. a weights file name)."""
        return None

    def _restore(self, state: Any) -> None:
        """Hook: restore what :meth:`_state` returned."""
        return None

    def _save_artefact(self, handle: BinaryIO) -> None:
        """Hook: write the binary artefact (controllers whose ``artefact`` is set)."""
        raise ControllerError(f"controller '{self.name}' declares artefact {self.artefact!r} but cannot write it")

    def _load_artefact(self, path: Path) -> None:
        """Hook: read the binary artefact :meth:`_save_artefact` wrote to ``path`` (after :meth:`_restore`)."""
        raise ControllerError(f"controller '{self.name}' declares artefact {self.artefact!r} but cannot read it")


class ProgramController(Controller):
    """A controller that lets SUMO run the lights' programs (``control = "program"``)."""

    control: ClassVar[str] = "program"

    def _act(self, observations: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        return {}


def best_allowed(values: np.ndarray, mask: np.ndarray, current: int, last_shown: np.ndarray | None = None) -> int:
    """The allowed green with the largest value.

    Ties: when the best value is not positive (nothing waiting) the current green stays;
    otherwise, among the tied greens, the one shown least recently wins (``last_shown``,
    the time each green last showed; without it the current green, else the lowest
    index). Rotating among tied greens matters where two greens serve the same lanes
    (a shared through + left lane): their queue counts are always equal, and keeping
    the current one would starve the other movement for ever.

    Args:
        values: one value per green.
        mask: 1 where the green may be chosen now.
        current: the green showing now.
        last_shown: per green, the simulation time it last showed (-inf: never).

    """
    allowed = np.flatnonzero(mask)
    if len(allowed) == 0:
        return int(current)
    best = values[allowed].max()
    keeps = 0 <= current < len(values) and bool(mask[current]) and values[current] >= best
    if keeps and (best <= 0 or last_shown is None):
        return int(current)
    tied = allowed[values[allowed] >= best]
    if last_shown is None:
        return int(tied[0])
    return int(tied[np.argmin(last_shown[tied])])


class QueueRotation:
    """Per agent, when each green last showed: the memory :func:`best_allowed` uses to rotate ties."""

    def __init__(self) -> None:
        self._last: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        """Forget everything (episode start)."""
        self._last = {}

    def choose(self, agent: str, values: np.ndarray, info: Mapping[str, Any]) -> int:
        """Best allowed green for ``agent`` now; remembers the green showing."""
        mask = info["action_mask"]
        last = self._last.get(agent)
        if last is None:
            last = self._last[agent] = np.full(len(mask), -np.inf)
        current = int(info["phase"])
        now = float(info["system"]["time"])
        if 0 <= current < len(last):
            last[current] = now
        choice = best_allowed(values, mask, current, last)
        last[choice] = now
        return choice
