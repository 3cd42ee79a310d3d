"""traffic-lam export: a run's trained policy as ONNX gives the learner's own actions under onnxruntime."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

import traffic_lam
from tests.helpers_runs import one_error_line, run_folder
from traffic_lam.cli import main
from traffic_lam.cli.models import open_model

SCENARIO = """
name: learners
network: single-intersection
timing: {begin: 0, end: 80}
controllers:
  - {name: dqn, type: dqn, args: {learning_starts: 4, batch_size: 4, device: cpu}}
  - {name: dqn-independent, type: dqn, args: {sharing: independent, learning_starts: 4, batch_size: 4, device: cpu}}
  - {name: ppo, type: ppo, args: {n_steps: 16, batch_size: 16, n_epochs: 1, device: cpu}}
  - {name: neural, type: batched-q, args: {mode: neural, learning_starts: 4, batch_size: 4, device: cpu}}
  - {name: neural-independent, type: batched-q, args: {mode: neural, shared: false, learning_starts: 4, device: cpu}}
  - {name: table, type: batched-q, args: {mode: tabular, device: cpu}}
training: {episodes: 1}
evaluation: {seeds: [0], episodes: 1}
"""
NETWORKS = ("dqn", "dqn-independent", "ppo", "neural", "neural-independent")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_folder(tmp_path_factory.mktemp("export"), SCENARIO)


def recorded_episode(model):
    """Every decision step of a real episode: the learner's actions and the exported model's inputs."""
    from traffic_lam.export import policy_inputs

    controller = model.controller
    env = traffic_lam.make_env("single-intersection", **{**model.options, **controller.env_options()})
    steps = []
    try:
        controller.setup(env)
        observations, infos = env.reset(seed=3)
        controller.reset()
        while env.agents:
            actions = controller.act(observations, infos)
            steps.append((actions, policy_inputs(controller, observations, infos)))
            observations, _, _, _, infos = env.step(actions)
    finally:
        env.close()
    return steps


@pytest.mark.parametrize("label", NETWORKS)
def test_onnxruntime_gives_the_learners_own_actions_and_the_torch_values(run, tmp_path, label, capsys):
    ort = pytest.importorskip("onnxruntime")
    from traffic_lam.export.onnx import policy_of, read_layout

    out = tmp_path / f"{label}.onnx"
    assert main(["export", str(run), "--controller", label, "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    model = open_model(str(run / "models" / label))
    steps = recorded_episode(model)
    assert len(steps) == 16  # 80 s of 5 s decisions
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    module, _ = policy_of(model.controller)
    agents = read_layout(out).agents
    for actions, inputs in steps:
        action, values = session.run(["action", "values"], inputs)
        assert {agent: int(action[0, i]) for i, agent in enumerate(agents)} == actions
        with torch.no_grad():
            torch_action, torch_values = module(*(torch.from_numpy(inputs[k]) for k in ("observation", "action_mask")))
        assert np.array_equal(action, torch_action.numpy())
        np.testing.assert_allclose(values, torch_values.numpy(), rtol=1e-5, atol=1e-5)  # -inf where not allowed
        assert np.array_equal(np.isneginf(values), inputs["action_mask"] < 0.5)
    batch = {k: np.concatenate([inputs[k] for _, inputs in steps]) for k in ("observation", "action_mask")}
    (batched,) = session.run(["action"], batch)  # a batch of steps answers each step's action
    assert batched.tolist() == [[actions[a] for a in agents] for actions, _ in steps]


def test_the_layout_and_the_training_timing_travel_in_the_file(run, tmp_path):
    pytest.importorskip("onnxruntime")
    from traffic_lam.export import read_layout

    out = tmp_path / "dqn.onnx"
    assert main(["export", str(run), "--controller", "dqn", "--out", str(out)]) == 0
    layout = read_layout(out)
    assert layout.controller == "dqn" and layout.agents == ["A0"] and layout.observation == "wave-staleness"
    assert layout.parts["signal_id"] == [layout.features - 1, layout.features]
    assert layout.parts["observation"] == [0, layout.obs_sizes[0]] and layout.num_actions == layout.action_sizes[0]
    environment = layout.environment
    assert environment["network"] == "single-intersection" and environment["end_time"] == 80.0
    assert environment["delta_time"] == 5 and {"yellow_time", "min_green", "max_green"} <= set(environment)


def test_default_output_beside_the_model_and_the_only_model_of_a_run(run, tmp_path, capsys):
    pytest.importorskip("onnx")
    assert main(["export", str(run), "--controller", "neural"]) == 0
    assert (run / "models" / "neural" / "model.onnx").is_file()
    assert main(["export", str(run)]) == 2  # six models: which one?
    line = one_error_line(capsys.readouterr().err)
    assert "name the model to export with --controller" in line and "dqn, dqn-independent, neural" in line


def test_a_tabular_learner_or_a_missing_label_is_one_line(run, capsys):
    pytest.importorskip("onnx")
    assert main(["export", str(run), "--controller", "table"]) == 2
    assert "hashed Q-table, not a network: it cannot be exported as ONNX" in one_error_line(capsys.readouterr().err)
    assert main(["export", str(run), "--controller", "nobody"]) == 2
    assert "no trained model 'nobody'" in one_error_line(capsys.readouterr().err)


def test_without_the_onnx_extra_export_says_what_to_install(run, tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else find_spec(name, *a))
    assert main(["export", str(run), "--controller", "dqn", "--out", str(tmp_path / "x.onnx")]) == 2
    assert 'pip install -e ".[onnx]"' in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.onnx").exists()


def test_an_sb3_model_on_another_network_is_refused_in_one_line(run, capsys):
    assert main(["evaluate", "grid2x2", "--model", str(run / "models" / "dqn")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "(trained on single-intersection): dqn: trained on signals A0, this network (grid2x2) has" in line
