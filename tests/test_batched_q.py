"""Batched Q-learner: exact updates, duplicates, terminals, masks, persistence, training, CUDA."""

import pytest
import torch

from traffic_lam.controllers.batched_q.controller import BatchedQ
from traffic_lam.controllers.batched_q.neural import BatchedMLP, NStepAccumulator
from traffic_lam.controllers.batched_q.tabular import TabularConfig, TabularQ

CPU = torch.device("cpu")


def toy(alpha=0.5, gamma=0.9, shared=True, agents=2):
    """A 2-state, 2-action problem: states are table rows 0 and 1 directly."""
    return TabularQ(TabularConfig(alpha=alpha, gamma=gamma, shared=shared, table_size=2), agents, 1, 2, CPU)


def tensors(agents, states, actions, rewards, next_states, terminated, masks=None):
    n = len(agents)
    return (
        torch.tensor(agents),
        torch.tensor(states),
        torch.tensor(actions),
        torch.tensor(rewards, dtype=torch.float32),
        torch.tensor(next_states),
        masks if masks is not None else torch.ones(n, 2, dtype=torch.bool),
        torch.tensor(terminated),
    )


def test_hand_computed_update_on_two_states():
    q = toy()
    q.q[0, 1] = torch.tensor([2.0, 4.0])
    # s=0, a=0, r=1, s'=1: target = 1 + 0.9 * max(2, 4) = 4.6; Q = 0.5 * 0 + 0.5 * 4.6
    q.update(*tensors([0], [0], [0], [1.0], [1], [False]))
    assert q.q[0, 0].tolist() == pytest.approx([2.3, 0.0])
    # s=1, a=1, r=-1, s'=0: target = -1 + 0.9 * 2.3 = 1.07; Q = 0.5 * 4 + 0.5 * 1.07
    q.update(*tensors([0], [1], [1], [-1.0], [0], [False]))
    assert q.q[0, 1].tolist() == pytest.approx([2.0, 2.535])


def test_duplicate_indices_apply_sequentially_in_batch_order():
    q = toy()
    q.q[0, 1] = torch.tensor([2.0, 4.0])
    # two agents share the table and hit (s=0, a=1) in one batch: targets 4.6 and 3.6
    q.update(*tensors([0, 1], [0, 0], [1, 1], [1.0, 0.0], [1, 1], [False, False]))
    # sequential: 0 -> 0.5 * 4.6 = 2.3 -> 0.5 * 2.3 + 0.5 * 3.6 = 2.95
    assert q.q[0, 0, 1].item() == pytest.approx(2.95)
    # three hits: (1 - a)^3 * Q + a (1-a)^2 y0 + a (1-a) y1 + a y2
    q2 = toy()
    q2.update(*tensors([0, 0, 0], [1, 1, 1], [0, 0, 0], [1.0, 2.0, 3.0], [0, 0, 0], [True, True, True]))
    assert q2.q[0, 1, 0].item() == pytest.approx(0.5 * 0.25 * 1 + 0.5 * 0.5 * 2 + 0.5 * 3)


def test_independent_tables_do_not_share():
    q = toy(shared=False)
    q.update(*tensors([0, 1], [0, 0], [1, 1], [1.0, 0.0], [1, 1], [True, True]))
    assert q.q[0, 0, 1].item() == pytest.approx(0.5) and q.q[1, 0, 1].item() == pytest.approx(0.0)


def test_terminal_does_not_bootstrap_and_mask_limits_the_max():
    q = toy()
    q.q[0, 1] = torch.tensor([2.0, 4.0])
    q.update(*tensors([0], [0], [0], [1.0], [1], [True]))
    assert q.q[0, 0, 0].item() == pytest.approx(0.5)  # no 0.9 * 4
    q = toy()
    q.q[0, 1] = torch.tensor([2.0, 4.0])
    only_first = torch.tensor([[True, False]])
    q.update(*tensors([0], [0], [0], [1.0], [1], [False], masks=only_first))
    assert q.q[0, 0, 0].item() == pytest.approx(0.5 * (1 + 0.9 * 2.0))


def test_selection_never_picks_a_masked_action():
    learner = BatchedQ(mode="tabular", device="cpu", seed=3)
    learner.build(["a", "b"], [4, 4], [3, 2])
    obs = torch.rand(256, 2, 4)
    masks = torch.zeros(256, 2, 3, dtype=torch.bool)
    masks[:, 0, 2] = True
    masks[:, 1, :2] = torch.rand(256, 2) < 0.5
    masks[:, 1, 0] |= ~masks[:, 1, :2].any(-1)
    for epsilon in (0.0, 0.5, 1.0):
        actions = learner.select(obs, masks, epsilon)
        assert masks.gather(-1, actions.unsqueeze(-1)).all()


def test_batched_networks_equal_a_loop_over_signals():
    net = BatchedMLP(3, 5, 8, 4)
    x = torch.randn(3, 7, 5)
    out = net(x)
    for i in range(3):
        h = torch.relu(x[i] @ net.weights[0][i] + net.biases[0][i])
        h = torch.relu(h @ net.weights[1][i] + net.biases[1][i])
        assert torch.allclose(out[i], h @ net.weights[2][i] + net.biases[2][i], atol=1e-6)


def test_n_step_returns_and_truncation_flush():
    acc = NStepAccumulator(2, 0.5)
    obs = torch.zeros(1, 1, 2)
    actions = torch.zeros(1, 1, dtype=torch.long)
    masks = torch.ones(1, 1, 2, dtype=torch.bool)
    assert acc.push(obs, actions, torch.tensor([[1.0]]), obs, masks, [False], [False]) == []
    (t,) = acc.push(obs, actions, torch.tensor([[2.0]]), obs, masks, [False], [False])
    assert t[2].item() == pytest.approx(1 + 0.5 * 2) and t[5].item() == pytest.approx(0.25)
    out = acc.push(obs, actions, torch.tensor([[4.0]]), obs, masks, [True], [False])  # truncated: bootstrap
    assert [o[2].item() for o in out] == pytest.approx([2 + 0.5 * 4, 4.0])
    assert [o[5].item() for o in out] == pytest.approx([0.25, 0.5])
    out = acc.push(obs, actions, torch.tensor([[1.0]]), obs, masks, [True], [True])  # terminated: no bootstrap
    assert out[0][5].item() == 0.0


@pytest.mark.parametrize("mode", ["tabular", "neural"])
def test_train_save_load_gives_identical_actions(tmp_path, mode):
    from traffic_lam.env.factory import EnvFactory

    factory = EnvFactory("single-intersection", {"end_time": 100})
    learner = BatchedQ(mode=mode, device="cpu", learning_starts=4, batch_size=8, seed=1)
    learner.learn(factory, 2)
    assert learner.training_episodes == 2
    path = learner.save(tmp_path / "model.pt")
    torch.load(path, weights_only=True)  # loadable with weights_only
    again = BatchedQ.load(path)
    env = factory()
    try:
        obs, infos = env.reset(seed=5)
        learner.setup(env)
        again.setup(env)
        for _ in range(10):
            a, b = learner.act(obs, infos), again.act(obs, infos)
            assert a == b
            assert all(infos[k]["action_mask"][v] for k, v in a.items())
            obs, _, _, _, infos = env.step(a)
    finally:
        env.close()


def test_resume_from_checkpoint(tmp_path):
    from traffic_lam.env.factory import EnvFactory

    class Budget:
        episodes, num_envs, seed, checkpoint_every = 1, 1, 0, 1
        checkpoint_dir, curve_file = tmp_path, tmp_path / "curve.csv"

    factory = EnvFactory("single-intersection", {"end_time": 60})
    first = BatchedQ(device="cpu")
    first.learn(factory, Budget())
    assert (tmp_path / "checkpoint.pt").is_file()
    Budget.episodes = 2
    second = BatchedQ(device="cpu")
    second.learn(factory, Budget())  # picks up after episode 1
    assert second.training_episodes == 2
    assert len((tmp_path / "curve.csv").read_text().strip().splitlines()) == 3  # header + 2 episodes


@pytest.mark.gpu
def test_cpu_and_cuda_give_the_same_updates():
    cfg = TabularConfig(alpha=0.3, gamma=0.9, shared=True, table_size=64)
    gen = torch.Generator().manual_seed(0)
    agents = torch.randint(0, 4, (512,), generator=gen)
    states = torch.randint(0, 64, (512,), generator=gen)
    actions = torch.randint(0, 3, (512,), generator=gen)
    rewards = torch.randn(512, generator=gen)
    nxt = torch.randint(0, 64, (512,), generator=gen)
    masks = torch.ones(512, 3, dtype=torch.bool)
    term = torch.rand(512, generator=gen) < 0.1
    tables = []
    for device in ("cpu", "cuda"):
        dev = torch.device(device)
        q = TabularQ(cfg, 4, 1, 3, dev)
        for _ in range(3):
            q.update(*(t.to(dev) for t in (agents, states, actions, rewards, nxt, masks, term)))
        tables.append(q.q.cpu())
    assert torch.allclose(tables[0], tables[1], atol=1e-5)
    learner_cpu = BatchedQ(mode="neural", device="cpu", seed=0)
    learner_gpu = BatchedQ(mode="neural", device="cuda", seed=0)
    for learner in (learner_cpu, learner_gpu):
        learner.build(["a", "b"], [4, 4], [3, 3])
    learner_gpu.online.load_state_dict(learner_cpu.online.state_dict())
    obs = torch.rand(5, 2, 4)
    assert torch.allclose(learner_cpu.q_values(obs), learner_gpu.q_values(obs.cuda()).cpu(), atol=1e-5)
