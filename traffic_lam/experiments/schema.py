r"""The scenario file as one declarative schema (pydantic models), exported as JSON schema for editors.

:class:`ScenarioFile` is the whole file; its sections are :class:`Timing` (the signal
timing of :class:`~traffic_lam.signals.SignalTiming` plus begin/end), :class:`Component`
(an observation or a reward: a name or ``{name, args}``), :class:`Training`,
:class:`Evaluation` and one :class:`ControllerEntry` per controller. Defaults are not
written here: timing ones come from ``SignalTiming``, environment ones from
:class:`~traffic_lam.env.EnvConfig`, training ones from
:class:`~traffic_lam.controllers.budget.TrainingBudget`.

A controller's ``args`` are checked against the controller itself: its ``config_class``
(a dataclass of hyperparameters) when it has one, else its ``__init__`` signature
(names, annotations, defaults; other keys only when ``__init__`` takes ``**kwargs``).

The committed ``docs/scenario.schema.json`` is :func:`json_schema`'s output (a test keeps
them equal); regenerate it after changing a model with::

    python -c "import json, traffic_lam.experiments.schema as s; print(json.dumps(s.json_schema(), indent=2))" \
        > docs/scenario.schema.json
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from traffic_lam.controllers import Controller, controller_type
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.env.config import EnvConfig
from traffic_lam.env.observations import make_observation
from traffic_lam.env.rewards import make_reward
from traffic_lam.env.sumo_flags import check_sumo_options
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.signals import SignalTiming
from traffic_lam.sim.connection import BACKENDS
from traffic_lam.validation import Flag, Section, Text, check_whole, describe, got, invalid, number, whole

_ENV = {f.name: f.default for f in dataclasses.fields(EnvConfig) if f.default is not dataclasses.MISSING}
_BUDGET = {f.name: f.default for f in dataclasses.fields(TrainingBudget)}


def _empty_if_none(value: Any) -> Any:
    return {} if value is None else value


Args = Annotated[dict[str, Any], BeforeValidator(_empty_if_none)]
"""Keyword arguments (``null`` reads as none)."""


class Timing(SignalTiming):
    """The ``timing:`` section: :class:`~traffic_lam.signals.SignalTiming` plus the simulated period."""

    begin: number(0) | None = Field(None, description="simulation begin, s (default: the network's own)")
    end: number(0) | None = Field(None, description="simulation end, s (default: the network's own)")

    @model_validator(mode="after")
    def _end_after_begin(self) -> Timing:
        if self.begin is not None and self.end is not None and self.end <= self.begin:
            raise invalid(f"expected after begin ({self.begin:g}), got {self.end:g}", at=".end")
        return self


class _NameOrEntry(Section):
    """A section also written as a bare string (``"wave"`` = ``{<shorthand>: "wave"}``)."""

    shorthand: ClassVar[str] = "name"

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        return {cls.shorthand: data} if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(cls, core: Any, handler: Any) -> dict[str, Any]:
        entry = handler(core)
        return {"anyOf": [{"type": "string"}, handler.resolve_ref_schema(entry)]}


class Component(_NameOrEntry):
    """An observation or reward: a name (built-in or ``module:Class``), with arguments for its constructor."""

    name: Text = Field(description="a built-in name or 'module:Class'")
    args: Args = Field(default_factory=dict, description="keyword arguments of the class's constructor")

    def spec(self) -> str | dict[str, Any]:
        """What :func:`traffic_lam.make_env` takes: the name, or ``{"name", "args"}`` with arguments."""
        return {"name": self.name, "args": dict(self.args)} if self.args else self.name


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise invalid(f"expected a non-empty list of integers, got {got(value)}")
    seeds = tuple(check_whole(seed, 0) for seed in value)
    if len(set(seeds)) != len(seeds):
        raise invalid(f"seeds must be distinct, got {list(seeds)}")
    return seeds


_SEED = {"type": "integer", "minimum": 0}
Seeds = Annotated[
    tuple[int, ...],
    BeforeValidator(_seeds),
    WithJsonSchema({"anyOf": [_SEED, {"type": "array", "items": _SEED, "minItems": 1, "uniqueItems": True}]}),
]
"""Distinct SUMO seeds (one integer reads as a list of one)."""


class Training(Section):
    """Training budget for learning controllers (defaults: :class:`~traffic_lam.controllers.budget.TrainingBudget`).

    Attributes:
        episodes: training episodes (of the scenario's length).
        seed: first SUMO seed used in training (evaluation seeds stay separate).
        num_envs: parallel simulations feeding the learner.
        checkpoint_every: save a checkpoint every this many episodes (0: only at the end).
        validate_every: validate the policy every this many episodes and at the end; the
            best validation delay selects the policy evaluated (0: never).
        validation_seeds: SUMO seeds of the validation episodes (apart from the training
            and evaluation seeds).
    """

    episodes: whole(1) = Field(_BUDGET["episodes"], description="training episodes")
    seed: whole(0) = Field(_BUDGET["seed"], description="SUMO seed of the first training episode")
    num_envs: whole(1) = Field(_BUDGET["num_envs"], description="parallel simulations feeding the learner")
    checkpoint_every: whole(0) = Field(
        _BUDGET["checkpoint_every"], description="episodes between checkpoints (0: only at the end)"
    )
    validate_every: whole(0) = Field(
        _BUDGET["validate_every"],
        description="episodes between validations of the policy, also validated at the end; the best validation "
        "delay selects the policy evaluated (0: never)",
    )
    validation_seeds: Seeds = Field(
        _BUDGET["validation_seeds"], description="SUMO seeds of the validation episodes (not training or evaluation's)"
    )

    def budget(self, checkpoint_dir: str | Path | None = None, curve_file: str | Path | None = None) -> TrainingBudget:
        """This budget as the :class:`~traffic_lam.controllers.budget.TrainingBudget` a learner takes."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return TrainingBudget(**values).with_outputs(checkpoint_dir, curve_file)


class Evaluation(Section):
    """How every controller is evaluated.

    Attributes:
        seeds: SUMO seeds; every controller is evaluated on the same ones.
        episodes: episodes per seed (episode k of seed s uses SUMO seed s + 1000 * k).
        ssm: switch SUMO's SSM device on (conflict counts; slower).
    """

    seeds: Seeds = Field((0, 1, 2), description="SUMO seeds; every controller is evaluated on the same ones")
    episodes: whole(1) = Field(1, description="episodes per seed (episode k of seed s uses SUMO seed s + 1000 k)")
    ssm: Flag = Field(False, description="switch SUMO's SSM device on (conflict counts; slower)")


class ControllerEntry(_NameOrEntry):
    """One controller: a type, a label, arguments checked against the controller, an optional training budget."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _name_or_type(schema))
    shorthand: ClassVar[str] = "type"

    name: Text = Field(description="label in results and plots, unique in the scenario (default: the type)")
    type: Text = Field(description="a built-in controller name or 'module:Class' (default: the name)")
    args: Args = Field(default_factory=dict, description="keyword arguments of the controller")
    training: Training | None = Field(None, description="overrides keys of the scenario's training section")

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        data = super()._prepare(data)
        if not isinstance(data, dict):
            return data
        if "name" not in data and "type" not in data:
            raise invalid("expected a 'type' (and optional name, args, training)")
        return {"name": data.get("type"), "type": data.get("name"), **data}


def _name_or_type(schema: dict[str, Any]) -> None:
    schema.pop("required", None)
    schema["anyOf"] = [{"required": ["type"]}, {"required": ["name"]}]


ALL_LEARNERS = "all-learners"
"""``replay.controllers``: a clip of every controller that needs training."""

CLIP_SECONDS = 300.0
"""Length of a replay clip when its section names no ``end``, s."""


def _labels(value: Any) -> str | tuple[str, ...]:
    if value == ALL_LEARNERS:
        return ALL_LEARNERS
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        raise invalid(f"expected a non-empty list of controller labels or '{ALL_LEARNERS}', got {got(value)}")
    return tuple(value)


Labels = Annotated[
    str | tuple[str, ...],
    BeforeValidator(_labels),
    WithJsonSchema({"anyOf": [{"const": ALL_LEARNERS}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}),
]
"""Controller labels of the scenario, or ``all-learners``."""


class Replay(Section):
    """The ``replay:`` section: a short clip per controller, recorded after evaluation and shown in the report.

    Each clip is an animated GIF ``replays/<label>.gif`` in the run folder, recorded with
    sumo-gui under Xvfb (:mod:`traffic_lam.replay`).

    Attributes:
        seed: SUMO seed of the clips.
        begin: simulation time the clips start, s (None: the scenario's begin).
        end: simulation time the clips end, s (None: :data:`CLIP_SECONDS` after their begin,
            or the scenario's end when sooner).
        controllers: the labels to record, or ``all-learners``.
    """

    seed: whole(0) = Field(0, description="SUMO seed of the clips")
    begin: number(0) | None = Field(None, description="simulation time the clips start, s (default: the scenario's)")
    end: number(0) | None = Field(
        None, description=f"simulation time the clips end, s (default: {CLIP_SECONDS:g} s after begin)"
    )
    controllers: Labels = Field(ALL_LEARNERS, description=f"labels to record, or '{ALL_LEARNERS}'")

    @model_validator(mode="after")
    def _end_after_begin(self) -> Replay:
        if self.begin is not None and self.end is not None and self.end <= self.begin:
            raise invalid(f"expected after begin ({self.begin:g}), got {self.end:g}", at=".end")
        return self

    def period(self, begin: float, end: float) -> tuple[float, float]:
        """The clips' ``(begin, end)`` within a scenario simulating ``begin`` .. ``end``."""
        start = begin if self.begin is None else self.begin
        stop = min(end, start + CLIP_SECONDS) if self.end is None else self.end
        return start, stop


def _sumo_options(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(o, (str, int, float)) for o in value):
        raise invalid(f"expected a list of strings, got {got(value)}")
    options = tuple(str(option) for option in value)
    try:
        check_sumo_options(options, where="")
    except ConfigError as exc:
        raise invalid(str(exc).removeprefix(": ")) from None
    return options


SumoOptions = Annotated[tuple[str, ...], BeforeValidator(_sumo_options)]
"""Extra SUMO flags (numbers read as their text)."""


class ScenarioFile(Section):
    """A whole scenario file.

    Validated with ``context={"base": folder}``, paths resolve relative to that folder
    (the scenario file's), else to the working directory.
    """

    name: Text | None = Field(None, description="scenario name (default: the file stem)")
    description: Text = Field("", description="free text")
    network: Text = Field(description="a bundled name, resco:<map> or a path")
    route_file: Text | None = Field(None, description="route file replacing the network's own")
    timing: Timing = Field(default_factory=Timing, description="signal timing and simulated period, s")
    observation: Component = Field(_ENV["observation"], description="observation: a name or {name, args}")
    reward: Component = Field(_ENV["reward"], description="reward: a name or {name, args}")
    sumo_options: SumoOptions = Field(_ENV["sumo_options"], description="extra SUMO command-line flags")
    backend: Literal[BACKENDS] = Field(_ENV["backend"], description="how SUMO is driven")
    time_to_teleport: number() = Field(_ENV["time_to_teleport"], description="SUMO --time-to-teleport (-1: never)")
    training: Training = Field(default_factory=Training, description="default training budget of learners")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="evaluation seeds and episodes")
    replay: Replay | None = Field(None, description="record a clip per controller after evaluation (report.html)")
    controllers: list[ControllerEntry] = Field(  # last: the other keys' errors come first
        min_length=1, description="controllers to run, in order: names or entries"
    )

    @field_validator("network")
    @classmethod
    def _network(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith("resco:"):
            return value
        candidate = _base(info) / value
        return str(candidate.resolve()) if candidate.exists() else value  # a bundled name: checked at run time

    @field_validator("route_file")
    @classmethod
    def _route_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        candidate = (_base(info) / value).resolve()
        if not candidate.exists():
            raise invalid(f"file not found: {candidate}")
        return str(candidate)

    @field_validator("observation", "reward")
    @classmethod
    def _buildable(cls, value: Component, info: ValidationInfo) -> Component:
        build = make_observation if info.field_name == "observation" else make_reward
        for spec, at in ((value.name, ""), (value.spec(), ".args")):  # the name first, then its arguments
            try:
                build(spec)
            except ConfigError as exc:
                raise invalid(str(exc), at=at) from None
        return value

    @field_validator("controllers")
    @classmethod
    def _controllers(cls, entries: list[ControllerEntry]) -> list[ControllerEntry]:
        names = [entry.name for entry in entries]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise invalid(f"name '{duplicate}' used twice; give each entry a unique name")
        return [entry.model_copy(update={"args": checked_args(entry, i)}) for i, entry in enumerate(entries)]

    @model_validator(mode="after")
    def _replay_labels(self) -> ScenarioFile:
        if self.replay is None or self.replay.controllers == ALL_LEARNERS:
            return self
        names = [entry.name for entry in self.controllers]
        unknown = next((label for label in self.replay.controllers if label not in names), None)
        if unknown is not None:
            raise invalid(f"unknown label '{unknown}' (labels: {', '.join(names)})", at=".replay.controllers")
        return self

    def env_options(self) -> dict[str, Any]:
        """The keyword options of :func:`traffic_lam.make_env` this file sets (the rest keep their defaults)."""
        timing, given = self.timing, self.model_fields_set
        options: dict[str, Any] = {key: getattr(timing, key) for key in SignalTiming.model_fields
                                   if key in timing.model_fields_set}  # fmt: skip
        for key, option in (("begin", "begin_time"), ("end", "end_time")):
            if key in timing.model_fields_set:
                options[option] = getattr(timing, key)
        options.update({key: getattr(self, key).spec() for key in ("observation", "reward") if key in given})
        options.update({key: getattr(self, key) for key in ("backend", "time_to_teleport") if key in given})
        if "sumo_options" in given:
            options["sumo_options"] = list(self.sumo_options)
        return options


def _base(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base") or Path.cwd())


def json_schema() -> dict[str, Any]:
    """The JSON schema of a scenario file (what ``docs/scenario.schema.json`` holds)."""
    schema = ScenarioFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "traffic_lam scenario"
    return schema


def checked_args(entry: ControllerEntry, index: int) -> dict[str, Any]:
    """``entry.args`` checked against its controller's arguments (values as the annotations read them).

    Raises:
        PydanticCustomError: at ``[index] (label '...').args[.key]``: unknown type, unknown key, bad value.
    """
    at = f"[{index}] (label '{entry.name}').args"
    try:
        cls = built_class(controller_type(entry.type), entry.args)
    except ControllerError as exc:
        raise invalid(str(exc), at=f"[{index}].type") from None
    except ConfigError as exc:
        raise invalid(str(exc), at=at) from None
    model, open_ended = args_model(cls)
    unknown = [key for key in entry.args if key not in model.model_fields]
    if unknown and not open_ended:
        valid = ", ".join(model.model_fields) or "none"
        raise invalid(f"unknown key '{unknown[0]}' for {cls.name or cls.__name__} (valid: {valid})", at=at)
    try:
        checked = model.model_validate(_set(cls, entry.args))
    except ValidationError as exc:
        key, message = describe(exc.errors(include_url=False)[0])
        raise invalid(message, at=at + (f".{key}" if key else "")) from None
    read = checked.model_fields_set
    args = {key: _read(value, getattr(checked, key)) if key in read else value for key, value in entry.args.items()}
    config = getattr(cls, "config_class", None)
    if dataclasses.is_dataclass(config):
        names = {f.name for f in dataclasses.fields(config)}
        try:  # the dataclass's own checks (__post_init__)
            config(**{key: value for key, value in _set(cls, args).items() if key in names})
        except (ConfigError, TypeError, ValueError) as exc:
            raise invalid(str(exc).splitlines()[0], at=at) from None
    return args


def _set(cls: type[Controller], args: dict[str, Any]) -> dict[str, Any]:
    """The arguments to check: with a ``config_class``, a None value means the field's default."""
    if getattr(cls, "config_class", None) is None:
        return args
    return {key: value for key, value in args.items() if value is not None}


def built_class(cls: type[Controller], args: dict[str, Any]) -> type[Controller]:
    """The class ``cls(**args)`` builds: ``cls``, or the subclass its ``__new__`` picks (``batched-q``'s mode)."""
    if cls.__new__ is object.__new__:
        return cls
    return type(cls.__new__(cls, **args))


def _read(written: Any, checked: Any) -> Any:
    """The value as written when it means the same (``200`` for a float), else as the annotation reads it.

    A settings dataclass (``warm_start``) stays the mapping written: the controller builds it.
    """
    if dataclasses.is_dataclass(checked):
        return written
    same = type(written) is type(checked) or (written == checked and not isinstance(checked, bool))
    return written if same else checked


def args_model(cls: type[Controller]) -> tuple[type[BaseModel], bool]:
    """A pydantic model of the arguments ``cls`` takes, and whether it takes other keys too.

    The named parameters of the ``__init__`` methods up the class's bases, while each
    passes ``**kwargs`` on; then, when the class has a ``config_class`` (a dataclass of
    hyperparameters), that dataclass's fields, and no other keys. Without one, other
    keys are allowed only when the chain of ``**kwargs`` reaches :class:`Controller`'s own.
    """
    fields, open_ended = _init_fields(cls)
    config = getattr(cls, "config_class", None)
    if dataclasses.is_dataclass(config):
        hints = _hints(config)
        for f in dataclasses.fields(config):
            factory = f.default_factory
            default = f.default if factory is dataclasses.MISSING else Field(default_factory=factory)
            fields[f.name] = (_nested(hints.get(f.name, Any), f.name), default)
        open_ended = False
    return _model(cls, fields, open_ended), open_ended


def _nested(kind: Any, name: str) -> Any:
    """A field holding a settings dataclass with a ``from_args`` (``warm_start``), checked by the dataclass itself.

    Its one-line errors (``warm_start.episodes: expected ...``) are reported at the key
    they name (``args.warm_start.episodes``); other annotations are returned unchanged.
    """
    inner = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    if not (isinstance(inner, type) and dataclasses.is_dataclass(inner) and hasattr(inner, "from_args")):
        return kind

    def build(value: Any) -> Any:
        try:
            return inner.from_args(value)
        except ConfigError as exc:
            head, _, rest = str(exc).partition(": ")
            if rest and (head == name or head.startswith(f"{name}.")):
                raise invalid(rest, at=head[len(name) :]) from None
            raise invalid(str(exc)) from None

    return Annotated[kind, BeforeValidator(build)]


def _init_fields(cls: type[Controller]) -> tuple[dict[str, Any], bool]:
    """``{name: (annotation, default)}`` of the ``__init__`` chain, and whether it ends in Controller's ``**params``."""
    fields: dict[str, Any] = {}
    for klass in cls.__mro__[: cls.__mro__.index(Controller)]:
        if "__init__" not in vars(klass):
            continue
        hints = _hints(klass.__init__)
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        for p in parameters:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                default = ... if p.default is inspect.Parameter.empty else p.default
                fields.setdefault(p.name, (hints.get(p.name, Any), default))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return fields, False
    return fields, True


def _hints(target: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # names only imported for type checking: accept anything
        return {}


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise invalid(f"expected a number, got {value!r}")
    return value


def _model(cls: type, fields: dict[str, Any], open_ended: bool) -> type[BaseModel]:
    config = ConfigDict(extra="allow" if open_ended else "forbid", arbitrary_types_allowed=True)
    numbers = {  # pydantic would read true / false as 1 / 0
        name: (Annotated[kind, BeforeValidator(_not_bool)] if kind in (int, float) else kind, default)
        for name, (kind, default) in fields.items()
    }
    try:
        return create_model(f"{cls.__name__}Args", __config__=config, **numbers)
    except Exception:  # an annotation pydantic cannot check: check the names only
        return create_model(f"{cls.__name__}Args", __config__=config, **{k: (Any, d) for k, (_, d) in fields.items()})
