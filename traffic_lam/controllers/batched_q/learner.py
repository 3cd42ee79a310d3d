"""What the two batched Q-learners share, and ``BatchedQ``: the name ``batched-q`` that builds either.

Naming: the controller keeps one name, ``batched-q``, with ``mode: tabular | neural``
(scenario YAML and ``BatchedQ(mode=...)``). :class:`BatchedQ` is the base class of the
two learners, :class:`~traffic_lam.controllers.batched_q.tabular.TabularBatchedQ` (a
hashed Q-table) and :class:`~traffic_lam.controllers.batched_q.neural.NeuralBatchedQ`
(batched Q-networks); ``BatchedQ(mode="neural", ...)`` builds the neural one and
``BatchedQ.load(path)`` whichever was saved. Each learner has one hyperparameter
dataclass, its ``config_class`` (:class:`~traffic_lam.controllers.batched_q.tabular.TabularConfig`,
:class:`~traffic_lam.controllers.batched_q.neural.NeuralConfig`), whose fields are its
keyword arguments; the fields both share are :class:`BatchedQConfig`'s. ``BatchedQ`` itself
has no ``config_class`` (its arguments depend on ``mode``): :meth:`BatchedQ.learner_class`
names the class a ``mode`` builds.

Both are trained by the shared off-policy loop (:func:`traffic_lam.controllers.offpolicy.train`):
every decision step, all signals of all simulations choose their actions in one tensor
operation and learn from one stacked batch of transitions. Both choose epsilon-greedily
with the same tie rule and decay epsilon linearly over the planned decision steps.

With ``warm_start`` (:mod:`traffic_lam.imitation.warm_start`), :meth:`BatchedQ.learn`
first makes an expert's demonstrations (in this process, before the simulations start)
and the learner starts from them before its first step (:meth:`BatchedQ.warm_start_from`:
the neural learner pre-trains on the margin and TD losses, the tabular one initialises
its table); a resumed training skips that phase.

Saving follows :meth:`~traffic_lam.controllers.Controller.save`: the document holds the
parameters, the signals and the counters, the artefact (``torch.save``, loadable with
``weights_only=True``) the tensors. A checkpoint adds :meth:`BatchedQ.training_state`
(also ``weights_only``): the exploration generator's state, and the neural learner's
replay buffer.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle
import warnings
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from traffic_lam.controllers.layouts import SignalSizes, check_layout, network_name
from traffic_lam.controllers.offpolicy import OffPolicyLearner, SignalStacker, TrainingPlan
from traffic_lam.controllers.threads import torch_threads
from traffic_lam.env.observations import LEARNER_OBSERVATION
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.imitation.warm_start import DemoSteps, WarmStart, demo_report, warm_start_demos

LEARNERS = {
    "tabular": "traffic_lam.controllers.batched_q.tabular:TabularBatchedQ",
    "neural": "traffic_lam.controllers.batched_q.neural:NeuralBatchedQ",
}
"""The learner class of each ``mode``, imported on use (the learner modules import this one)."""


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True)
class BatchedQConfig:
    """Hyperparameters both batched Q-learners have (each learner's dataclass adds its own)."""

    gamma: float = 0.99
    """Discount factor (per decision step)."""
    epsilon_start: float = 1.0
    """Exploration (probability of a random allowed action) at the start of training."""
    epsilon_end: float = 0.05
    """Exploration at the end of the decay, and after it."""
    epsilon_fraction: float = 0.5
    """Fraction of the planned training decision steps over which epsilon decays linearly."""
    device: str = "auto"
    """``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``."""
    torch_threads: int = 1
    """CPU threads for the learner's tensor operations while it trains or acts (see
    :func:`torch_threads`; 0: leave torch's setting alone)."""
    seed: int = 0
    """Seeds exploration, hashing and network initialisation."""
    warm_start: WarmStart | None = None
    """Start from an expert before training (``{expert, method: bc | dagger, episodes, ...}``:
    :class:`~traffic_lam.imitation.warm_start.WarmStart`); None: from scratch."""

    family: ClassVar[str] = ""
    """The learner whose ``warm_start`` settings apply (:meth:`WarmStart.check_family`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon_end <= self.epsilon_start <= 1.0:
            raise ConfigError("batched-q: expected 0 <= epsilon_end <= epsilon_start <= 1")
        try:
            warm = WarmStart.from_args(self.warm_start)
            if warm is not None and self.family:
                warm.check_family(self.family)
        except ConfigError as exc:
            raise ConfigError(f"batched-q: {exc}") from None
        object.__setattr__(self, "warm_start", warm)


class BatchedQ(OffPolicyLearner):
    """Q-learning for every signal of every parallel simulation at once (base of the two learners).

    ``BatchedQ(mode="tabular" | "neural", **options)`` builds the learner of that mode
    (:meth:`learner_class`); ``options`` are the fields of its ``config_class``. Options
    that only the other mode has are ignored with a warning (one argument list serves
    both modes in scripts); unknown ones raise :class:`~traffic_lam.errors.ConfigError`.

    Rewards are the environment's (its ``reward`` option): ``queue`` learns well; ``pressure``
    led to gridlocking policies.
    """

    name: ClassVar[str] = "batched-q"
    observation: ClassVar[str | None] = LEARNER_OBSERVATION  # per instance: its ``observation`` option
    artefact: ClassVar[str | None] = "torch"
    mode: ClassVar[str] = ""
    """The learner's mode (set by each learner class)."""
    config_class: ClassVar[type[BatchedQConfig]]
    """The learner's hyperparameter dataclass (set by each learner class; none here: it depends on ``mode``)."""

    def __new__(cls, *args: Any, **options: Any) -> BatchedQ:  # noqa: D102 (documented on the class)
        if cls is BatchedQ:
            cls = cls.learner_class(options.get("mode", "tabular"))
        return super().__new__(cls)

    def __init__(self, mode: str | None = None, **options: Any) -> None:
        if mode is not None and mode != self.mode:
            raise ConfigError(f"batched-q: mode: {type(self).__name__} is mode {self.mode!r}, got {mode!r}")
        self.config: Any = self._read_config(options)
        super().__init__(mode=self.mode, **asdict(self.config))
        self.device = resolve_device(self.config.device)
        self.threads = int(self.config.torch_threads) if self.device.type == "cpu" else 0
        self.generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        self.agents: list[str] = []
        self.obs_dim = 0
        self.num_actions = 0
        self.stacker: SignalStacker | None = None
        self._decay_steps = 1
        self._planned_steps = 1
        self._layout: tuple[list[str], list[int], list[int]] | None = None  # restored, built by _load_artefact
        self.demos: Any = None  # the training's demonstrations (warm_start), made by learn()
        self.warm_start_report: dict[str, Any] | None = None  # what the warm start measured (saved)

    @staticmethod
    def learner_class(mode: str) -> type[BatchedQ]:
        """The learner class ``BatchedQ(mode=mode)`` builds.

        Raises:
            ConfigError: not a mode.
        """
        if mode not in LEARNERS:
            raise ConfigError(f"batched-q: mode: expected one of {', '.join(LEARNERS)}, got {mode!r}")
        module, name = LEARNERS[mode].split(":")
        learner: type[BatchedQ] = getattr(importlib.import_module(module), name)
        return learner

    @classmethod
    def _read_config(cls, options: Mapping[str, Any]) -> Any:
        """This mode's config from ``options``, warning about the other mode's options (ignored)."""
        own = {f.name for f in fields(cls.config_class)}
        every = {f.name for mode in LEARNERS for f in fields(cls.learner_class(mode).config_class)}
        unknown = sorted(set(options) - every)
        if unknown:
            raise ConfigError(f"batched-q: unknown option {unknown[0]!r}: expected one of {', '.join(sorted(every))}")
        ignored = sorted(set(options) - own)
        if ignored:
            warnings.warn(f"batched-q: mode {cls.mode!r} ignores {', '.join(ignored)}", UserWarning, stacklevel=4)
        return cls.config_class(**{k: v for k, v in options.items() if k in own})

    def observation_spec(self) -> Any:
        """The observation this learner was configured with."""
        return self.config.observation

    # ------------------------------------------------------------------ shapes and models
    def build(
        self,
        agents: Sequence[str],
        observation_spaces: Sequence[spaces.Box | int],
        action_sizes: Sequence[int],
    ) -> None:
        """Allocate the table or networks for these agents (padded to the largest spaces).

        Args:
            agents: signal ids, in the order of the stacked tensors.
            observation_spaces: per agent, its observation ``Box`` (an int ``n`` stands for
                ``Box(0, 1, (n,))``); the tabular learner discretises over the bounds.
            action_sizes: per agent, its number of actions (greens).
        """
        boxes = [s if isinstance(s, spaces.Box) else spaces.Box(0.0, 1.0, (int(s),)) for s in observation_spaces]
        self.agents = list(agents)
        self.obs_sizes = [int(b.shape[0]) for b in boxes]
        self.action_sizes = [int(n) for n in action_sizes]
        self.obs_dim, self.num_actions = max(self.obs_sizes), max(self.action_sizes)
        n, d, a = len(self.agents), self.obs_dim, self.num_actions
        # padding features are constant 0 in [0, 1]; padding actions are never allowed
        self.obs_low = np.zeros((n, d), dtype=np.float32)
        self.obs_high = np.ones((n, d), dtype=np.float32)
        for i, box in enumerate(boxes):
            self.obs_low[i, : box.shape[0]] = box.low
            self.obs_high[i, : box.shape[0]] = box.high
        # tie order: row c ranks the actions after current green c: c + 1 first, c itself last
        self._tie_order = (torch.arange(a) - torch.arange(a).unsqueeze(-1) - 1).remainder(a).to(self.device)
        self._build_model()
        self.stacker = SignalStacker(self.agents, self.obs_sizes, self.action_sizes, self._array_device())

    @abstractmethod
    def _build_model(self) -> None:
        """Hook: allocate the table or networks (shapes and bounds are set)."""

    def _array_device(self) -> torch.device | None:
        """Hook: where the stacked arrays live (None: numpy arrays); the learner's device by default."""
        return self.device

    def _build_for(
        self, agents: list[str], observation_space: Any, action_space: Any, network: str | None = None
    ) -> None:
        """Build for these agents (spaces looked up by id), or check them against the trained ones.

        Raises:
            ControllerError: one line naming the first difference from the trained signals
                (ids, an observation size, a green count), e.g. ``batched-q: trained on
                signals t, this network (grid2x2) has A0..D3 (4 signals)``.
        """
        found = SignalSizes.from_spaces(agents, observation_space, action_space)
        if self.agents:
            trained = SignalSizes.of(self.agents, self.obs_sizes, self.action_sizes)
            check_layout(self.name, trained, found, network)
            return
        self.build(agents, [observation_space(a) for a in agents], list(found.action_sizes))

    def _setup(self, env: Any) -> None:
        if self._fitted and not self.agents:  # loaded from a save made before it ever trained
            raise ControllerError(f"{self.name}: the saved learner never trained (it holds no signals): train it first")
        self._build_for(list(env.possible_agents), env.observation_space, env.action_space, network_name(env))

    # ------------------------------------------------------------------ values and actions
    def state_of(self, obs: Any) -> Any:
        """What the values are computed from (table rows ``[B, N]``, or the observations)."""
        return obs

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values ``[B, N, A]`` for padded observations ``[B, N, D]`` of every agent."""
        return self._values(self.state_of(obs))

    @abstractmethod
    def _values(self, state: Any) -> torch.Tensor:
        """Hook: Q-values ``[..., A]`` of states (what :meth:`state_of` gives)."""

    def select(
        self, obs: torch.Tensor, masks: torch.Tensor, epsilon: float, current: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Epsilon-greedy actions ``[B, N]`` among the allowed ones.

        Args:
            obs: padded observations ``[B, N, D]``.
            masks: allowed actions ``[B, N, A]`` (bool).
            epsilon: probability of a uniformly random allowed action, per signal.
            current: the green each signal shows ``[B, N]`` (int64; None: green 0), for ties.
        """
        if current is None:
            current = torch.zeros(masks.shape[:-1], dtype=torch.int64, device=self.device)
        return self._select(self.state_of(obs), masks, current, epsilon)

    def _draws(self, masks: Any, epsilon: float) -> torch.Tensor | None:
        """Uniforms ``[..., A + 1]``: ``A`` to pick a random allowed action, 1 to decide to explore (None: greedy)."""
        if epsilon <= 0.0:
            return None
        shape = (*masks.shape[:-1], self.num_actions + 1)
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _select(self, state: Any, masks: Any, current: Any, epsilon: float) -> Any:
        """Epsilon-greedy; the greedy action is the allowed one of largest value.

        Among equal values (a tabular state never updated: all zero) the next green after
        the current one in program order wins, the current one last: an unknown state
        then moves the cycle on. Always the first index (sumo-rl's ``np.argmax``) would
        starve the other greens whenever unknown states follow one another, and keeping
        the current green would hold it for ever without a max green (RESCO protocol).
        """
        draws = self._draws(masks, epsilon)
        blocked = ~masks
        with torch.no_grad():  # (a no-op under the inference mode of training and acting)
            q = self._values(state).masked_fill_(blocked, float("-inf"))
        best = (q == q.amax(-1, keepdim=True)) & masks
        greedy = torch.where(best, self._tie_order[current], self.num_actions).argmin(-1)
        greedy = torch.where(masks.any(-1), greedy, current)  # nothing allowed: keep the green
        if draws is None:
            return greedy
        random = draws[..., :-1].masked_fill(blocked, -1.0).argmax(-1)  # uniform among allowed actions
        return torch.where(draws[..., -1] < epsilon, random, greedy)

    def _act(self, observations: Any, infos: Any) -> dict[str, int]:
        assert self.stacker is not None, "setup() builds the learner"
        with torch_threads(self.threads), torch.inference_mode():
            obs, masks, current = self.stacker([observations], [infos])
            actions = self._select(self.state_of(obs), masks, current, epsilon=0.0)[0].tolist()
        return {agent: actions[i] for i, agent in enumerate(self.agents) if agent in observations}

    # ------------------------------------------------------------------ the training loop's calls
    @property
    def warm_started(self) -> bool:
        """Whether this training started from the warm start's demonstrations (made by :meth:`learn`)."""
        return self.demos is not None

    def compute(self) -> contextlib.AbstractContextManager[None]:
        """Training runs torch on the learner's own CPU threads (``torch_threads``)."""
        return torch_threads(self.threads)

    def prepare(self, venv: Any, plan: TrainingPlan) -> SignalStacker:
        """Build for the simulations' signals (or check them), plan the epsilon decay, then :meth:`_start`."""
        self._build_for(list(venv.possible_agents), venv.observation_spaces.__getitem__, venv.action_spaces.__getitem__)
        fraction = self.config.epsilon_fraction
        self._decay_steps = max(1, int(fraction * plan.episodes * plan.steps_per_episode / plan.num_envs))
        self._planned_steps = max(1, int(plan.episodes * plan.steps_per_episode / plan.num_envs))
        self._start(plan)
        if self.demos is not None:  # fresh: the warm-start phase (a resumed learner has taken steps)
            self._use_demos(self.demos, fresh=self.decision_steps == 0)
        assert self.stacker is not None
        return self.stacker

    @abstractmethod
    def _start(self, plan: TrainingPlan) -> None:
        """Hook: get ready to learn from ``plan.num_envs`` simulations (buffers, discounts)."""

    def exploration(self) -> float:
        """Epsilon now: linear from ``epsilon_start`` to ``epsilon_end`` over the planned decay steps."""
        start, end = float(self.config.epsilon_start), float(self.config.epsilon_end)
        return end + (start - end) * self._share_left(self._decay_steps)

    def remaining_fraction(self) -> float:
        """The share of the planned training decision steps still to take, in [0, 1] (1 before training)."""
        return self._share_left(self._planned_steps)

    def _share_left(self, steps: int) -> float:
        return max(0.0, 1.0 - self.decision_steps / steps)

    def observe(self, obs: Any) -> Any:
        """The state of stacked observations (:meth:`state_of`)."""
        return self.state_of(obs)

    def choose(self, state: Any, masks: Any, current: Any, exploration: float) -> Any:
        """Epsilon-greedy actions of every signal of every simulation (see :meth:`_select`)."""
        return self._select(state, masks, current, exploration)

    # ------------------------------------------------------------------ warm start (traffic_lam.imitation.warm_start)
    def _learn(self, make_env: Any, budget: Any) -> None:
        """Make the warm start's demonstrations (the expert runs here, before the simulations), then train."""
        warm = self.config.warm_start
        if warm is not None:
            self.demos = warm_start_demos(warm, make_env, self.observation_spec(), self.name, budget)
        try:
            super()._learn(make_env, budget)
        finally:
            self.demos = None

    def warm_start_from(self, dataset: Any, make_env: Any) -> Any:
        """The warm-start phase alone: build for ``make_env``'s signals, start from ``dataset``; no RL.

        :meth:`learn` runs this phase itself (on demonstrations it makes); this is the phase
        on its own. No simulation starts. :attr:`warm_start_report` says how often the
        learner then agrees with the expert on the demonstrations.

        Args:
            dataset: a :class:`~traffic_lam.imitation.dataset.DemoDataset` recorded with this
                learner's observation on ``make_env``'s network.
            make_env: an :class:`~traffic_lam.env.factory.EnvFactory`.

        Returns:
            The model: the Q-network (neural) or the table (tabular).

        Raises:
            ControllerError: no ``warm_start`` settings, or demonstrations that do not fit.
        """
        if self.config.warm_start is None:
            raise ControllerError(
                f"{self.name}: warm_start_from needs warm_start settings (warm_start: {{}}: defaults)"
            )
        env = make_env(**self.env_options())
        try:
            dataset.check_fits(env, self.observation_spec(), self.name)
            self._build_for(list(env.possible_agents), env.observation_space, env.action_space, network_name(env))
        finally:
            env.close()
        self._use_demos(dataset, fresh=True)
        return self._model()

    def _use_demos(self, dataset: Any, fresh: bool) -> None:
        """Start from the demonstrations (:meth:`_start_from`); when ``fresh``, report the agreement."""
        assert self.stacker is not None
        steps = DemoSteps.of(dataset).in_order(self.agents)
        with torch_threads(self.threads):
            self._start_from(steps, fresh)
            if fresh:
                obs, masks = self.stacker.convert(steps.obs), self.stacker.convert(steps.masks)
                current = self.stacker.convert(np.zeros(steps.actions.shape, dtype=np.int64))
                with torch.inference_mode():
                    chosen = self._select(self.state_of(obs), masks, current, epsilon=0.0)
                chosen = chosen.cpu().numpy() if isinstance(chosen, torch.Tensor) else np.asarray(chosen)
                self.warm_start_report = demo_report(dataset, steps, chosen)

    @abstractmethod
    def _start_from(self, steps: DemoSteps, fresh: bool) -> None:
        """Hook: use the demonstrations (a demo buffer); when ``fresh`` (no step taken yet), the warm start itself."""

    @abstractmethod
    def _model(self) -> Any:
        """Hook: what :meth:`warm_start_from` returns (the network or the table)."""

    # ------------------------------------------------------------------ persistence
    def training_state(self) -> dict[str, Any]:
        """The state of the generator of exploration draws (and replay samples) for a checkpoint."""
        return {"generator": self.generator.get_state()}

    def restore_training_state(self, state: dict[str, Any]) -> None:
        """Continue the generator's draws where the checkpoint left them."""
        self.generator.set_state(state["generator"])

    @classmethod
    def _from_document(cls, path: Path, document: Mapping[str, Any], overrides: Mapping[str, Any]) -> BatchedQ:
        """As the base class; loading on another ``device`` also picks the kernels that suit it (``"auto"``)."""
        if "device" in overrides and "kernels" in document["params"]:
            overrides = {"kernels": "auto", **overrides}
        learner: BatchedQ = super()._from_document(path, document, overrides)  # type: ignore[assignment]
        return learner

    def _state(self) -> dict[str, Any]:
        return {
            "agents": list(self.agents),
            "obs_sizes": list(self.obs_sizes) if self.agents else [],
            "action_sizes": list(self.action_sizes) if self.agents else [],
            "decision_steps": self.decision_steps,
            "training_episodes": self.training_episodes,
            "warm_start": self.warm_start_report,
        }

    def _restore(self, state: Any) -> None:
        self.decision_steps = int(state["decision_steps"])
        self.training_episodes = int(state["training_episodes"])
        self.warm_start_report = state.get("warm_start")
        self._layout = (list(state["agents"]), list(state["obs_sizes"]), list(state["action_sizes"]))

    def _save_artefact(self, handle: BinaryIO) -> None:
        """``torch.save`` of the observation bounds and the learner's tensors (:meth:`_tensors`)."""
        tensors: dict[str, Any] = {}
        if self.agents:
            tensors = {"obs_low": torch.from_numpy(self.obs_low), "obs_high": torch.from_numpy(self.obs_high)}
            tensors.update(self._tensors())
        torch.save(tensors, handle)

    def _load_artefact(self, path: Path) -> None:
        """Build for the saved signals and bounds, then restore the learner's tensors (:meth:`_load_tensors`)."""
        try:
            tensors = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ControllerError(f"{path}: not a saved batched-q learner ({exc})") from None
        if self._layout is None or not self._layout[0]:
            return
        agents, obs_sizes, action_sizes = self._layout
        boxes = [
            spaces.Box(low[:k].numpy(), high[:k].numpy())
            for low, high, k in zip(tensors["obs_low"], tensors["obs_high"], obs_sizes, strict=True)
        ]
        self.agents = []  # rebuild, also over a learner built before (resume)
        self.build(agents, boxes, action_sizes)
        self._load_tensors(tensors)

    @abstractmethod
    def _tensors(self) -> dict[str, Any]:
        """Hook: the learner's tensors to save (``weights_only``-loadable values)."""

    @abstractmethod
    def _load_tensors(self, tensors: Mapping[str, Any]) -> None:
        """Hook: restore what :meth:`_tensors` gave (the learner is built)."""
