"""A trained policy as an ONNX model: the network, masked, with the layout of what it reads.

The model takes one decision step of every signal (a batch of steps: the first axis) and
answers the learner's greedy choice:

* input ``observation``: float32 ``[batch, signals, features]``, row ``i`` for signal
  ``agents[i]``: what the learner's network reads before the mask (:class:`PolicyLayout`
  names the parts: the signal's observation zero-padded to the largest signal's, for SB3
  the neighbours' features, then the signal's one-hot id where the learner has one);
* input ``action_mask``: float32 ``[batch, signals, actions]``, 1 where a green may be
  chosen now (the environment's ``infos[signal]["action_mask"]``), 0 elsewhere and on
  padding actions of signals with fewer greens;
* output ``action``: int64 ``[batch, signals]``, the allowed green of largest value (the
  first on equal values);
* output ``values``: float32 ``[batch, signals, actions]``, the Q-values (DQN, neural
  batched-q) or the policy's logits (PPO), ``-inf`` where not allowed.

:func:`policy_inputs` builds the inputs from an environment step as the learner does;
the layout is stored in the ONNX file's metadata (key ``traffic_lam``, JSON) and read back
by :func:`read_layout`. A PPO learner that samples (``deterministic: false``) is exported
as its most likely action; its logits let a caller sample instead.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from traffic_lam.errors import ConfigError, ControllerError

OPSET = 17
"""ONNX opset of the exported graph."""

METADATA_KEY = "traffic_lam"
"""Metadata entry of the ONNX file holding the :class:`PolicyLayout` (JSON)."""

INSTALL_HINT = 'ONNX export needs the onnx extra: pip install -e ".[onnx]"'


@dataclass(frozen=True)
class PolicyLayout:
    """What a program running the exported model must feed it.

    Attributes:
        controller: the learner's name (``dqn``, ``ppo``, ``batched-q``).
        observation: the observation it reads (a name of ``traffic_lam.env.observations.OBSERVATIONS``,
            or its ``{name, args}``).
        agents: signal ids, in the order of the ``signals`` axis.
        obs_sizes: each signal's own observation size (before padding).
        action_sizes: each signal's number of greens (before padding).
        features: length of a row of ``observation``.
        parts: ``[start, stop)`` of each part of a row: ``observation`` (padded), ``neighbours``
            (SB3 with neighbour features: per neighbour its queue occupancy and phase / greens),
            ``signal_id`` (one-hot of the row's signal).
        num_actions: length of a row of ``action_mask`` and ``values``.
        environment: the timing the policy was trained with (``delta_time`` between decisions,
            ``yellow_time``, ``min_green``, ``max_green``, ``begin``, ``end``) and the network's
            name, when known (exported from a run folder).
    """

    controller: str
    observation: Any
    agents: list[str]
    obs_sizes: list[int]
    action_sizes: list[int]
    features: int
    parts: dict[str, list[int]]
    num_actions: int
    environment: dict[str, Any] = field(default_factory=dict)


def require_onnx() -> None:
    """Raise one line naming the extra to install when the ``onnx`` package is missing.

    Raises:
        ConfigError: ``onnx`` is not installed.
    """
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError(INSTALL_HINT)


def export_onnx(
    controller: Any, path: str | Path, environment: Mapping[str, Any] | None = None, opset: int = OPSET
) -> PolicyLayout:
    """Write ``controller``'s policy to ``path`` as ONNX (see the module docstring for its inputs and outputs).

    Args:
        controller: a trained (or loaded) DQN, PPO or neural batched-q learner.
        path: the ``.onnx`` file to write (its folder is created).
        environment: timing and network name to record in the layout (see :class:`PolicyLayout`).
        opset: the ONNX opset.

    Returns:
        The layout written into the file's metadata.

    Raises:
        ConfigError: the ``onnx`` package is missing, or the file cannot be written.
        ControllerError: a controller that is not trained or has no network (a tabular batched-q).
    """
    require_onnx()
    import onnx
    import torch

    module, layout = policy_of(controller)
    layout = PolicyLayout(**{**asdict(layout), "environment": dict(environment or {})})
    target = Path(path)
    device = next(module.parameters()).device
    n = len(layout.agents)
    example = (torch.zeros(1, n, layout.features, device=device), torch.ones(1, n, layout.num_actions, device=device))
    batch = {0: "batch"}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated; it needs no onnxscript
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module.eval(), example, str(target), input_names=["observation", "action_mask"],
                output_names=["action", "values"], opset_version=opset, dynamo=False,
                dynamic_axes={"observation": batch, "action_mask": batch, "action": batch, "values": batch},
            )  # fmt: skip
        model = onnx.load(str(target))
        onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(asdict(layout))})
        onnx.save(model, str(target))
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write the ONNX model ({exc.strerror or exc})") from None
    return layout


def read_layout(path: str | Path) -> PolicyLayout:
    """The :class:`PolicyLayout` stored in an ONNX file written by :func:`export_onnx`.

    Raises:
        ConfigError: the ``onnx`` package is missing, or the file holds no layout.
    """
    require_onnx()
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    if METADATA_KEY not in props:
        raise ConfigError(f"{path}: no '{METADATA_KEY}' metadata (not exported by traffic-lam export)")
    return PolicyLayout(**json.loads(props[METADATA_KEY]))


def policy_inputs(controller: Any, observations: Mapping[str, np.ndarray], infos: Mapping[str, Any]) -> dict:
    """The exported model's inputs (batch of 1) for one environment step, built as ``controller`` builds them.

    Args:
        controller: the learner that was exported.
        observations: per signal, its observation (``env.step``'s).
        infos: per signal, its infos (``action_mask``; ``queue`` and ``phase`` for neighbour features).

    Returns:
        ``{"observation": [1, signals, features], "action_mask": [1, signals, actions]}`` (float32).
    """
    from traffic_lam.export.policies import inputs_of

    observation, mask = inputs_of(controller, observations, infos)
    return {"observation": observation[None].astype(np.float32), "action_mask": mask[None].astype(np.float32)}


def policy_of(controller: Any) -> tuple[Any, PolicyLayout]:
    """The torch module computing the exported outputs from the inputs, and the layout of those inputs.

    Raises:
        ControllerError: not trained, a tabular learner, or a controller without a network.
    """
    from traffic_lam.export.policies import policy_module

    if not getattr(controller, "trained", False):
        raise ControllerError(f"controller '{controller.name}' is not trained: nothing to export")
    return policy_module(controller)
