"""A demonstrations dataset: what an expert did at every decision of every signal, as a Parquet file.

One row per signal per decision. In memory (:class:`DemoDataset`) every column is a numpy
array; observations and masks are padded to the largest signal (zeros; padded actions are
never allowed), so ``obs[i, :metadata.obs_sizes[signal_index[i]]]`` is row ``i``'s own
observation. On disk (``docs/demonstrations.md``) each row keeps its own length
(``list<float32>``) and the schema's metadata (key :data:`METADATA_KEY`) holds a JSON
document, :class:`DemoMetadata`: the format version, the environment options, the
observation, each signal's sizes, the expert, the network's fingerprint and the episodes.
:meth:`DemoDataset.check_fits` refuses, in one line, a learner that reads another
observation or runs another network.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.controllers.checkpoints import sha256_of
from traffic_lam.controllers.layouts import network_name, signal_ids
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.experiments.fingerprint import digest
from traffic_lam.files import atomic_open

FORMAT = 1
"""Version of the file layout :meth:`DemoDataset.save` writes."""

METADATA_KEY = b"traffic_lam.demonstrations"
"""Key of the JSON document in the Parquet schema's metadata."""

COLUMNS = ("episode", "seed", "time", "signal", "signal_index", "obs", "mask", "action", "reward", "next_obs", "done")
"""The columns of every file, in order (``expert_obs`` follows when the expert read its own observation)."""

_ROW_ARRAYS = ("obs", "masks", "actions", "rewards", "next_obs", "dones", "signal_index", "episodes", "seeds", "times")


def network_fingerprint(net_file: str | Path, layouts: Mapping[str, Any]) -> str:
    """SHA-256 of the network file's bytes, the controlled signal ids and each one's green states."""
    return digest({"net": sha256_of(Path(net_file)), "signals": {sid: list(layouts[sid].greens) for sid in layouts}})


def describe_observation(spec: Any) -> dict[str, Any] | None:
    """An observation spec as JSON: ``{"name": ..., "args": {...}}`` (None for None).

    The spec is built first, so ``"wave"`` and ``WaveObservation()`` describe alike: the name
    of a built-in observation (else ``module:Class``) and the instance's public settings.

    Raises:
        ConfigError: the spec names no observation.
    """
    if spec is None:
        return None
    from traffic_lam.env.observations import OBSERVATIONS, make_observation
    from traffic_lam.env.value_checks import spec_name

    built = make_observation(spec)
    cls = type(built)
    name = next((key for key, value in OBSERVATIONS.items() if value is cls), None) or spec_name(cls)
    settings = {
        k: v for k, v in vars(built).items() if not k.startswith("_") and isinstance(v, (int, float, str, bool))
    }
    return {"name": name, "args": settings}


def observation_label(description: Mapping[str, Any] | None) -> str:
    """``'wave'``, or ``'wave(detection_range=100)'`` when its settings differ from the defaults'."""
    if description is None:
        return "(none)"
    default = describe_observation(description["name"]) if ":" not in description["name"] else None
    args = description.get("args") or {}
    if not args or (default is not None and default["args"] == args):
        return str(description["name"])
    return f"{description['name']}({', '.join(f'{k}={v}' for k, v in sorted(args.items()))})"


@dataclass(frozen=True)
class DemoMetadata:
    """What a demonstrations file records beside its rows (JSON in the Parquet schema's metadata).

    Attributes:
        observation: the learner's observation the rows hold (:func:`describe_observation`).
        signals: signal ids; a row's ``signal_index`` points here.
        obs_sizes: per signal, its observation size.
        action_sizes: per signal, its number of greens.
        expert: ``{"name", "args", "model"}``: the controller that chose the actions (``model``:
            the path of a loaded learner, else None).
        network: ``{"name", "fingerprint"}`` (:func:`network_fingerprint`).
        env_options: timing, begin and end, reward, control, observation and expert observation.
        episodes: one entry per recorded episode: ``episode``, ``seed``, ``avg_delay`` (None when
            not measured), ``iteration`` (DAgger), ``expert_share`` (the share of decisions the
            expert drove; 1.0 for a pure demonstration).
        format: :data:`FORMAT`.
    """

    observation: dict[str, Any]
    signals: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    action_sizes: tuple[int, ...]
    expert: dict[str, Any]
    network: dict[str, Any]
    env_options: dict[str, Any]
    episodes: tuple[dict[str, Any], ...] = ()
    format: int = FORMAT

    def to_json(self) -> str:
        """The metadata as one JSON document."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> DemoMetadata:
        """Read :meth:`to_json` back (lists become tuples where the fields are tuples)."""
        data = json.loads(text)
        for key in ("signals", "obs_sizes", "action_sizes", "episodes"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


@dataclass
class DemoDataset:
    """Demonstrations in memory: one row per signal per decision, columns as numpy arrays.

    Attributes:
        metadata: what was recorded (:class:`DemoMetadata`).
        obs: ``[N, D]`` float32 the learner's observation, zero-padded to the largest signal.
        masks: ``[N, A]`` bool allowed actions, padded with False.
        actions: ``[N]`` the expert's action (green index).
        rewards: ``[N]`` float32 the environment's reward after the decision.
        next_obs: ``[N, D]`` the observation at the next decision.
        dones: ``[N]`` whether the episode ended after the decision.
        signal_index: ``[N]`` position of the row's signal in ``metadata.signals``.
        episodes: ``[N]`` episode number (unique in the dataset).
        seeds: ``[N]`` the episode's SUMO seed.
        times: ``[N]`` simulation time of the decision (s).
        expert_obs: ``[N, E]`` the expert's own observation (padded), or None when it read none.
        source: the file it was loaded from (None: built in memory).
    """

    metadata: DemoMetadata
    obs: np.ndarray
    masks: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray
    signal_index: np.ndarray
    episodes: np.ndarray
    seeds: np.ndarray
    times: np.ndarray
    expert_obs: np.ndarray | None = None
    source: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def signals(self) -> tuple[str, ...]:
        """Signal ids (``signal_index`` points here)."""
        return self.metadata.signals

    @property
    def name(self) -> str:
        """How the dataset is named in messages: its file, else ``demonstrations``."""
        return str(self.source) if self.source is not None else "demonstrations"

    # ------------------------------------------------------------------ rows
    def select(self, rows: np.ndarray) -> DemoDataset:
        """The rows picked by ``rows`` (a bool mask or indices); the metadata lists their episodes only."""
        kept = set(np.unique(self.episodes[rows]).tolist())
        metadata = dataclasses.replace(
            self.metadata, episodes=tuple(e for e in self.metadata.episodes if e["episode"] in kept)
        )
        return dataclasses.replace(
            self,
            metadata=metadata,
            **{name: value[rows] for name, value in self._arrays().items()},
        )

    def extend(self, other: DemoDataset) -> DemoDataset:
        """This dataset's rows followed by ``other``'s (same signals, observation and network).

        Raises:
            ControllerError: ``other`` was recorded with another observation, signals or network.
        """
        mine, theirs = self.metadata, other.metadata
        for key in ("observation", "signals", "obs_sizes", "action_sizes", "network"):
            if getattr(mine, key) != getattr(theirs, key):
                raise ControllerError(f"{other.name}: cannot join demonstrations with another {key.replace('_', ' ')}")
        clash = set(np.unique(self.episodes).tolist()) & set(np.unique(other.episodes).tolist())
        if clash:
            raise ControllerError(f"{other.name}: episode {min(clash)} is in both datasets")
        arrays = {}
        for name, value in self._arrays().items():
            theirs_value = getattr(other, name)
            if value is None or theirs_value is None:
                arrays[name] = None
            else:
                arrays[name] = np.concatenate([_pad_to(value, theirs_value), _pad_to(theirs_value, value)])
        metadata = dataclasses.replace(mine, episodes=mine.episodes + theirs.episodes)
        return dataclasses.replace(self, metadata=metadata, source=None, **arrays)

    def action_counts(self) -> dict[str, list[int]]:
        """Per signal, how often the expert chose each of its greens."""
        return {
            sid: np.bincount(self.actions[self.signal_index == k], minlength=n).tolist()
            for k, (sid, n) in enumerate(zip(self.signals, self.metadata.action_sizes, strict=True))
        }

    # ------------------------------------------------------------------ compatibility
    def check_fits(self, env: Any, observation: Any, learner: str = "learner") -> None:
        """Raise unless a learner reading ``observation`` on ``env`` can learn from these rows.

        Args:
            env: the learner's environment (anything with ``possible_agents``,
                ``observation_spaces``, ``action_spaces``, ``layouts`` and ``config``).
            observation: the learner's observation spec.
            learner: the learner's name, for the message.

        Raises:
            ControllerError: one line naming the first mismatch: the observation, the
                signals, a signal's sizes, or the network's fingerprint.
        """
        recorded, mine = self.metadata.observation, describe_observation(observation)
        if recorded != mine:
            raise ControllerError(
                f"{self.name}: recorded with observation '{observation_label(recorded)}', "
                f"this {learner} reads '{observation_label(mine)}'"
            )
        agents = tuple(sorted(env.possible_agents))
        network = network_name(env) or "this network"
        if agents != self.signals:
            raise ControllerError(
                f"{self.name}: recorded on signals {signal_ids(self.signals)}, {network} has {signal_ids(agents)}"
            )
        for sid, n_obs, n_actions in zip(agents, self.metadata.obs_sizes, self.metadata.action_sizes, strict=True):
            found_actions = int(env.action_spaces[sid].n)
            if found_actions != n_actions:
                raise ControllerError(
                    f"{self.name}: signal {sid} has {n_actions} greens in the recording, {found_actions} in {network}"
                )
            found_obs = int(env.observation_spaces[sid].shape[0])
            if found_obs != n_obs:
                raise ControllerError(
                    f"{self.name}: signal {sid} observation of {n_obs} features in the recording, "
                    f"{found_obs} in {network}"
                )
        fingerprint = network_fingerprint(env.config.network.net_file, env.layouts)
        if fingerprint != self.metadata.network["fingerprint"]:
            raise ControllerError(
                f"{self.name}: recorded on network '{self.metadata.network['name']}' (fingerprint "
                f"{self.metadata.network['fingerprint'][:12]}), this {learner} runs on '{network}' ({fingerprint[:12]})"
            )

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the dataset to ``path`` as Parquet, atomically (a temporary file, then rename).

        Raises:
            ConfigError: the folder cannot be written.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        target = Path(path)
        sizes = np.asarray(self.metadata.obs_sizes, dtype=np.int64)[self.signal_index]
        n_actions = np.asarray(self.metadata.action_sizes, dtype=np.int64)[self.signal_index]
        columns: dict[str, Any] = {
            "episode": pa.array(self.episodes, pa.int32()),
            "seed": pa.array(self.seeds, pa.int64()),
            "time": pa.array(self.times, pa.float64()),
            "signal": pa.array([self.signals[k] for k in self.signal_index.tolist()], pa.string()).dictionary_encode(),
            "signal_index": pa.array(self.signal_index, pa.int16()),
            "obs": _lists(self.obs.astype(np.float32), sizes, pa.float32()),
            "mask": _lists(self.masks.astype(np.int8), n_actions, pa.int8()),
            "action": pa.array(self.actions, pa.int16()),
            "reward": pa.array(self.rewards, pa.float32()),
            "next_obs": _lists(self.next_obs.astype(np.float32), sizes, pa.float32()),
            "done": pa.array(self.dones, pa.bool_()),
        }
        if self.expert_obs is not None:
            expert_sizes = np.asarray(self.metadata.env_options.get("expert_obs_sizes") or (), dtype=np.int64)
            lengths = (
                expert_sizes[self.signal_index] if len(expert_sizes) else np.full(len(self), self.expert_obs.shape[1])
            )
            columns["expert_obs"] = _lists(self.expert_obs.astype(np.float32), lengths, pa.float32())
        table = pa.table(columns).replace_schema_metadata({METADATA_KEY: self.metadata.to_json().encode()})
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(target, "wb", encoding=None) as handle:
                pq.write_table(table, handle)
        except OSError as exc:
            raise ConfigError(f"{target}: cannot write the demonstrations ({exc.strerror or exc})") from None
        return target

    @classmethod
    def load(cls, path: str | Path) -> DemoDataset:
        """Read a file :meth:`save` wrote.

        Raises:
            ConfigError: one line: the file is missing, not Parquet, not a demonstrations file,
                or of a newer format.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"{source}: demonstrations file not found")
        try:
            table = pq.read_table(source)
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"{source}: not a Parquet file ({' '.join(str(exc).split())[:120]})") from None
        text = (table.schema.metadata or {}).get(METADATA_KEY)
        if text is None:
            raise ConfigError(
                f"{source}: not a traffic_lam demonstrations file (no '{METADATA_KEY.decode()}' metadata)"
            )
        try:
            metadata = DemoMetadata.from_json(text)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: unreadable demonstrations metadata ({exc})") from None
        if metadata.format != FORMAT:
            raise ConfigError(f"{source}: demonstrations format {metadata.format}, this traffic_lam reads {FORMAT}")
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise ConfigError(f"{source}: demonstrations without column '{missing[0]}'")
        width, n_actions = max(metadata.obs_sizes), max(metadata.action_sizes)
        expert = table.column("expert_obs") if "expert_obs" in table.column_names else None
        return cls(
            metadata=metadata,
            obs=_padded(table.column("obs"), width, np.float32),
            masks=_padded(table.column("mask"), n_actions, np.int8).astype(bool),
            actions=table.column("action").to_numpy().astype(np.int64),
            rewards=table.column("reward").to_numpy().astype(np.float32),
            next_obs=_padded(table.column("next_obs"), width, np.float32),
            dones=table.column("done").to_numpy(zero_copy_only=False).astype(bool),
            signal_index=table.column("signal_index").to_numpy().astype(np.int64),
            episodes=table.column("episode").to_numpy().astype(np.int64),
            seeds=table.column("seed").to_numpy().astype(np.int64),
            times=table.column("time").to_numpy().astype(np.float64),
            expert_obs=None if expert is None else _padded(expert, _longest(expert), np.float32),
            source=source,
        )

    def _arrays(self) -> dict[str, np.ndarray | None]:
        return {**{n: getattr(self, n) for n in _ROW_ARRAYS}, "expert_obs": self.expert_obs}


def _lists(matrix: np.ndarray, lengths: np.ndarray, kind: Any) -> Any:
    """A Parquet ``list<kind>`` column: row ``i`` holds ``matrix[i, :lengths[i]]``."""
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    keep = np.arange(matrix.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(matrix[keep], kind))


def _padded(column: Any, width: int, dtype: type) -> np.ndarray:
    """A ``list<...>`` column as a ``[rows, width]`` matrix, zero-padded."""
    lists = column.combine_chunks()
    offsets = lists.offsets.to_numpy()
    values = lists.flatten().to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    out = np.zeros((len(lengths), width), dtype=dtype)
    keep = np.arange(width)[None, :] < lengths[:, None]
    out[keep] = values
    return out


def _longest(column: Any) -> int:
    lists = column.combine_chunks()
    lengths = np.diff(lists.offsets.to_numpy())
    return int(lengths.max()) if len(lengths) else 0


def _pad_to(value: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``value`` with its second axis zero-padded to ``other``'s (1-D arrays unchanged)."""
    if value.ndim < 2 or value.shape[1] >= other.shape[1]:
        return value
    return np.pad(value, ((0, 0), (0, other.shape[1] - value.shape[1])))


def build_metadata(
    env: Any, observation: Any, expert: Mapping[str, Any], episodes: Sequence[dict[str, Any]] = ()
) -> DemoMetadata:
    """The metadata of rows recorded on ``env`` (its signals, sizes, options and network)."""
    from traffic_lam.env.value_checks import spec_name

    config = env.config
    agents = tuple(sorted(env.possible_agents))
    expert_spaces = getattr(env, "expert_observation_spaces", {}) or {}
    options = {
        "timing": config.timing.model_dump(mode="json"),
        "begin_time": config.begin_time,
        "end_time": config.end_time,
        "reward": spec_name(config.reward),
        "control": config.control,
        "observation": describe_observation(config.observation),
        "expert_observation": describe_observation(config.expert_observation),
        "expert_obs_sizes": [int(expert_spaces[a].shape[0]) for a in agents] if expert_spaces else None,
    }
    return DemoMetadata(
        observation=describe_observation(observation),
        signals=agents,
        obs_sizes=tuple(int(env.observation_spaces[a].shape[0]) for a in agents),
        action_sizes=tuple(int(env.action_spaces[a].n) for a in agents),
        expert=dict(expert),
        network={"name": config.network.name, "fingerprint": network_fingerprint(config.network.net_file, env.layouts)},
        env_options=options,
        episodes=tuple(episodes),
    )
