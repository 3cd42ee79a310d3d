"""SB3 DQN / PPO learners: tiny real training on a small bundled network."""

import numpy as np
import pytest

from traffic_lam.controllers import TrainingBudget, make_controller
from traffic_lam.env.factory import EnvFactory

OPTIONS = {"end_time": 60, "delta_time": 10, "yellow_time": 3, "all_red_time": 2}
TINY = {
    "dqn": {"learning_starts": 8, "batch_size": 16, "buffer_size": 1000, "target_update_interval": 16},
    "ppo": {"n_steps": 6, "batch_size": 24, "n_epochs": 1},
}


def budget(episodes, tmp_path, every=0):
    return TrainingBudget(
        episodes=episodes, num_envs=2, seed=3, checkpoint_every=every,
        checkpoint_dir=tmp_path / "work", curve_file=tmp_path / "curve.csv",
    )  # fmt: skip


def trained(name, tmp_path, episodes=2, **args):
    learner = make_controller(name, {**TINY[name], "device": "cpu", **args})
    learner.learn(EnvFactory("grid2x2", {**OPTIONS, **learner.env_options()}), budget(episodes, tmp_path))
    return learner


def play(controller, seed=5, steps=6):
    env = EnvFactory("grid2x2", {**OPTIONS, **controller.env_options()})()
    try:
        controller.setup(env)
        obs, infos = env.reset(seed=seed)
        actions = []
        for _ in range(steps):
            action = controller.act(obs, infos)
            assert all(infos[a]["action_mask"][v] for a, v in action.items()), "a masked phase was chosen"
            actions.append(action)
            obs, _, _, _, infos = env.step(action)
            assert not any(i["corrected"] for i in infos.values())
        return actions
    finally:
        env.close()


@pytest.mark.parametrize("name", ["dqn", "ppo"])
@pytest.mark.parametrize("sharing", ["shared", "independent"])
def test_train_save_load_gives_identical_actions(tmp_path, name, sharing):
    learner = trained(name, tmp_path, sharing=sharing)
    assert learner.model.num_timesteps >= 2 * 6 * 4  # 2 episodes x 6 decisions x 4 signals
    curve = (tmp_path / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("episode,") and len(curve) >= 3 and "avg_delay" in curve[0]
    path = learner.save(tmp_path / "model.final")
    again = type(learner).load(path)
    assert play(learner) == play(again)


def test_neighbour_features_and_reward(tmp_path):
    learner = trained("ppo", tmp_path, neighbours=True, neighbour_reward=0.5)
    f = learner.featurizer
    assert f.max_neighbours == 2  # corners of a 2x2 grid
    rewards = f.neighbour_rewards({a: float(i) for i, a in enumerate(f.agents)}, 0.5)
    first = f.agents[0]
    mean = np.mean([f.agents.index(n) for n in f.neighbours[first]])
    assert rewards[0] == pytest.approx(0.0 + 0.5 * mean)
    play(learner)


def test_dqn_masks_invalid_actions_in_q_values(tmp_path):
    import torch

    learner = trained("dqn", tmp_path, episodes=1)
    size = learner.featurizer.size
    obs = torch.rand(5, size)
    obs[:, -learner.featurizer.num_actions :] = 0
    obs[:, -1] = 1  # only the last action allowed
    q = learner.model.q_net(obs)
    assert (q.argmax(-1) == learner.featurizer.num_actions - 1).all()
    actions, _ = learner.model.predict(obs.numpy(), deterministic=False)  # exploring too
    assert (actions == learner.featurizer.num_actions - 1).all()


@pytest.mark.parametrize("name", ["dqn", "ppo"])
def test_resume_from_checkpoint(tmp_path, name):
    learner = make_controller(name, {**TINY[name], "device": "cpu"})
    factory = EnvFactory("grid2x2", {**OPTIONS, **learner.env_options()})
    learner.learn(factory, budget(2, tmp_path, every=1))
    first = learner.model.num_timesteps
    assert (tmp_path / "work" / "checkpoint.zip").is_file()
    if name == "ppo":  # PPO trains on scaled rewards: the running return statistics are kept too
        scaled = learner.model.get_vec_normalize_env()
        assert scaled is not None and (tmp_path / "work" / "reward_scaling.pkl").is_file()
        seen = scaled.ret_rms.count
    again = make_controller(name, {**TINY[name], "device": "cpu"})
    again.learn(factory, budget(4, tmp_path, every=1))
    assert again.model.num_timesteps >= 2 * first  # continued, not restarted
    if name == "ppo":
        assert again.model.get_vec_normalize_env().ret_rms.count > seen  # statistics continued
    assert len((tmp_path / "curve.csv").read_text().strip().splitlines()) >= 5  # header + 4 episodes


def test_unknown_hyperparameter_is_one_clear_error():
    from traffic_lam.errors import ConfigError

    with pytest.raises(ConfigError, match="dqn: unknown hyperparameter 'learnin_rate'"):
        make_controller("dqn", {"learnin_rate": 0.1})


def test_ppo_samples_reproducibly_or_acts_deterministically(tmp_path):
    learner = trained("ppo", tmp_path, episodes=1)
    path = learner.save(tmp_path / "model.final")
    sampled = [type(learner).load(path, deterministic=False) for _ in range(2)]
    assert play(sampled[0], steps=4) == play(sampled[1], steps=4)  # same seed, same samples
    greedy = type(learner).load(path, deterministic=True)
    assert play(greedy, steps=4) == play(greedy, steps=4)


@pytest.mark.parametrize("name", ["dqn", "ppo"])
def test_heterogeneous_signals_never_get_an_action_they_do_not_have(tmp_path, name):
    # RESCO cologne3: 3 signals with 3, 4 and 4 greens; DQN's warm-up samples actions at random
    learner = make_controller(name, {**TINY[name], "learning_starts": 10_000} if name == "dqn" else TINY[name])
    options = {"begin_time": 25200, "end_time": 25260, "delta_time": 10, "yellow_time": 3, **learner.env_options()}
    learner.learn(EnvFactory("resco:cologne3", options), budget(2, tmp_path))
    assert learner.model.num_timesteps >= 2 * 6 * 3


@pytest.mark.parametrize("name", ["dqn", "ppo"])
def test_anneal_lr_decays_the_step_size_to_zero_over_the_budget_and_survives_save_load(tmp_path, name):
    learner = trained(name, tmp_path, episodes=2, anneal_lr=True, learning_rate=0.01)
    model = learner.model
    assert model.lr_schedule(1.0) == pytest.approx(0.01) and model.lr_schedule(0.0) == 0.0
    rate = model.policy.optimizer.param_groups[0]["lr"]  # the last update's: near the end of the budget
    assert 0.0 <= rate < 0.01 * 0.25
    again = type(learner).load(learner.save(tmp_path / "model.final"))
    assert again.model.lr_schedule(0.5) == pytest.approx(0.005)
    assert play(learner) == play(again)
