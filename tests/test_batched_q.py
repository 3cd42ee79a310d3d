"""Batched Q-learner: exact updates, duplicates, terminals, masks, persistence, training, CUDA."""

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces

from traffic_lam.controllers.batched_q.learner import BatchedQ
from traffic_lam.controllers.batched_q.networks import BatchedMLP
from traffic_lam.controllers.batched_q.replay import NStepAccumulator, RunningStd
from traffic_lam.controllers.batched_q.table import Discretiser, TabularQ
from traffic_lam.controllers.batched_q.tabular import TabularConfig
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.threads import torch_threads
from traffic_lam.errors import ConfigError

CPU = torch.device("cpu")


@pytest.fixture(params=["numba", "torch"])
def kernels(request):
    """Every exact-update test runs on both paths: compiled CPU loops and tensor operations (the GPU's)."""
    return request.param


def toy(kernels, alpha=0.5, gamma=0.9, shared=True, agents=2):
    """A 2-state, 2-action problem: rows 0 and 1 are the two states (of agent 0; agent 1's are 2, 3)."""
    config = TabularConfig(alpha=alpha, gamma=gamma, shared=shared, table_size=2)
    return TabularQ(config, np.zeros((agents, 1)), np.ones((agents, 1)), 2, CPU, kernels=kernels)


def tensors(rows, actions, rewards, next_rows, terminated, masks=None, gamma=0.9):
    n = len(rows)
    return (
        torch.tensor(rows),
        torch.tensor(actions),
        torch.tensor(rewards, dtype=torch.float32),
        torch.tensor(next_rows),
        masks if masks is not None else torch.ones(n, 2, dtype=torch.bool),
        torch.tensor([0.0 if t else gamma for t in terminated]),
    )


def test_hand_computed_update_on_two_states(kernels):
    q = toy(kernels)
    q.q[1] = torch.tensor([2.0, 4.0])
    # s=0, a=0, r=1, s'=1: target = 1 + 0.9 * max(2, 4) = 4.6; Q = 0.5 * 0 + 0.5 * 4.6
    q.update(*tensors([0], [0], [1.0], [1], [False]))
    assert q.q[0].tolist() == pytest.approx([2.3, 0.0])
    # s=1, a=1, r=-1, s'=0: target = -1 + 0.9 * 2.3 = 1.07; Q = 0.5 * 4 + 0.5 * 1.07
    q.update(*tensors([1], [1], [-1.0], [0], [False]))
    assert q.q[1].tolist() == pytest.approx([2.0, 2.535])


def test_duplicate_indices_apply_sequentially_in_batch_order(kernels):
    q = toy(kernels)
    q.q[1] = torch.tensor([2.0, 4.0])
    # two agents share the table and hit (s=0, a=1) in one batch: targets 4.6 and 3.6
    q.update(*tensors([0, 0], [1, 1], [1.0, 0.0], [1, 1], [False, False]))
    # sequential: 0 -> 0.5 * 4.6 = 2.3 -> 0.5 * 2.3 + 0.5 * 3.6 = 2.95
    assert q.q[0, 1].item() == pytest.approx(2.95)
    # three hits: (1 - a)^3 * Q + a (1-a)^2 y0 + a (1-a) y1 + a y2
    q2 = toy(kernels)
    q2.update(*tensors([1, 1, 1], [0, 0, 0], [1.0, 2.0, 3.0], [0, 0, 0], [True, True, True]))
    assert q2.q[1, 0].item() == pytest.approx(0.5 * 0.25 * 1 + 0.5 * 0.5 * 2 + 0.5 * 3)


def test_independent_tables_do_not_share(kernels):
    q = toy(kernels, shared=False)
    rows = q.rows(torch.zeros(1, 2, 1))[0]  # the same observation for both agents: a row in each table
    assert rows.tolist() == [0, 2]
    q.update(*tensors([0, 2], [1, 1], [1.0, 0.0], [1, 3], [True, True]))
    assert q.q[0, 1].item() == pytest.approx(0.5) and q.q[2, 1].item() == pytest.approx(0.0)


def test_terminal_does_not_bootstrap_and_mask_limits_the_max(kernels):
    q = toy(kernels)
    q.q[1] = torch.tensor([2.0, 4.0])
    q.update(*tensors([0], [0], [1.0], [1], [True]))
    assert q.q[0, 0].item() == pytest.approx(0.5)  # no 0.9 * 4
    q = toy(kernels)
    q.q[1] = torch.tensor([2.0, 4.0])
    only_first = torch.tensor([[True, False]])
    q.update(*tensors([0], [0], [1.0], [1], [False], masks=only_first))
    assert q.q[0, 0].item() == pytest.approx(0.5 * (1 + 0.9 * 2.0))


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
    assert acc.push(obs, actions, torch.tensor([[1.0]]), obs, masks, [False], [False]) is None
    t = acc.push(obs, actions, torch.tensor([[2.0]]), obs, masks, [False], [False])
    assert t[2].flatten().tolist() == pytest.approx([1 + 0.5 * 2]) and t[5].tolist() == pytest.approx([0.25])
    out = acc.push(obs, actions, torch.tensor([[4.0]]), obs, masks, [True], [False])  # truncated: bootstrap
    assert out[2].flatten().tolist() == pytest.approx([2 + 0.5 * 4, 4.0])
    assert out[5].tolist() == pytest.approx([0.25, 0.5])
    out = acc.push(obs, actions, torch.tensor([[1.0]]), obs, masks, [True], [True])  # terminated: no bootstrap
    assert out[5].tolist() == [0.0]


def test_discretiser_bins_over_the_observation_bounds():
    # [0, 1] with 10 bins is sumo-rl's min(int(10 x), 9)
    unit = Discretiser(np.zeros((1, 1)), np.ones((1, 1)), 10, CPU)
    values = torch.tensor([0.0, 0.05, 0.1, 0.3, 0.55, 0.99, 1.0, 1.5, -0.2])
    expected = [min(int(10 * v), 9) if v >= 0 else 0 for v in values.tolist()]
    assert unit(values.view(-1, 1, 1)).flatten().tolist() == expected
    # [-1, 1] (the pressure observation): negative values keep their own bins (was: all in bin 0)
    signed = Discretiser(-np.ones((1, 1)), np.ones((1, 1)), 4, CPU)
    assert signed(torch.tensor([-0.9, -0.4, 0.1, 0.6]).view(-1, 1, 1)).flatten().tolist() == [0, 1, 2, 3]
    # unbounded counts: log2 bins 0 | 1-2 | 3-6 | 7-14 | ...; centred on 0 without a lower bound
    counts = Discretiser(np.zeros((1, 1)), np.full((1, 1), np.inf), 5, CPU)
    assert counts(torch.tensor([0.0, 1, 2, 3, 6, 7, 14, 15, 1000]).view(-1, 1, 1)).flatten().tolist() == [
        0, 1, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip
    free = Discretiser(np.full((1, 1), -np.inf), np.full((1, 1), np.inf), 6, CPU)
    assert free(torch.tensor([-100.0, -3, -1, 0, 1, 3, 100]).view(-1, 1, 1)).flatten().tolist() == [
        0, 1, 2, 3, 4, 5, 5,
    ]  # fmt: skip


def test_pressure_observation_states_differ_by_sign():
    learner = BatchedQ(mode="tabular", bins=4, device="cpu")
    learner.build(["a"], [spaces.Box(-1.0, 1.0, (3,))], [2])
    rows = learner.state_of(torch.tensor([[[0.5, -0.6, 0.2]], [[0.5, 0.6, 0.2]]]))
    assert rows[0, 0] != rows[1, 0]


def test_unknown_states_move_the_cycle_on():
    """All-zero values: the next green after the current one, never the first index (starvation)."""
    learner = BatchedQ(mode="tabular", device="cpu")
    learner.build(["a", "b", "c"], [4, 4, 4], [3, 3, 3])
    obs = torch.zeros(1, 3, 4)
    masks = torch.ones(1, 3, 3, dtype=torch.bool)
    current = torch.tensor([[0, 1, 2]])
    assert learner.select(obs, masks, 0.0, current).tolist() == [[1, 2, 0]]
    masks[0, 0, 1] = False  # the next green is not allowed: the one after it
    assert learner.select(obs, masks, 0.0, current).tolist() == [[2, 2, 0]]
    learner.table.q[learner.state_of(obs)[0, 1], 1] = 0.5  # a learned preference wins over the order
    assert learner.select(obs, masks, 0.0, current).tolist() == [[2, 1, 0]]


def test_stack_pads_heterogeneous_signals_like_a_loop():
    learner = BatchedQ(mode="tabular", device="cpu")
    learner.build(["a", "b"], [3, 5], [2, 4])
    rng = np.random.default_rng(0)
    observations = [{"a": rng.random(3, dtype=np.float32), "b": rng.random(5, dtype=np.float32)} for _ in range(2)]
    infos = [
        {"a": {"action_mask": np.array([1, 0], np.int8), "phase": 0},
         "b": {"action_mask": np.array([0, 1, 1, 0], np.int8), "phase": 2}},
        {"a": {"action_mask": np.array([1, 1], np.int8), "phase": 1},
         "b": {"action_mask": np.array([1, 0, 0, 0], np.int8), "phase": 0}},
    ]  # fmt: skip
    obs, masks, current = learner.stacker(observations, infos)
    assert obs.shape == (2, 2, 5) and masks.shape == (2, 2, 4)
    for e in range(2):
        for i, agent in enumerate(["a", "b"]):
            size = len(observations[e][agent])
            assert obs[e, i, :size].tolist() == pytest.approx(observations[e][agent].tolist())
            assert not obs[e, i, size:].any()
            mask = infos[e][agent]["action_mask"].astype(bool).tolist()
            assert masks[e, i].tolist() == mask + [False] * (4 - len(mask))
            assert current[e, i].item() == infos[e][agent]["phase"]
    obs, masks, current = learner.stacker([{"b": observations[0]["b"]}], [{"b": infos[0]["b"]}])  # "a" missing
    assert not obs[0, 0].any() and masks[0, 0].tolist() == [True, True, False, False] and current[0, 0] == 0


def test_finished_simulations_bootstrap_from_their_final_observation():
    learner = BatchedQ(mode="tabular", device="cpu")
    learner.build(["a"], [2], [2])
    final = {"a": {"action_mask": np.array([0, 1], np.int8), "phase": 1}}
    infos = [
        {"a": {"action_mask": np.array([1, 1], np.int8), "phase": 0}},
        {"a": {"action_mask": np.array([1, 0], np.int8), "phase": 0,
               "final_observation": np.array([0.7, 0.8], np.float32), "final_info": final["a"]}},
    ]  # fmt: skip
    next_obs = torch.tensor([[[0.1, 0.2]], [[0.0, 0.0]]])  # env 1 already shows its new episode
    next_masks = torch.tensor([[[True, True]], [[True, False]]])
    end_obs, end_masks = learner.stacker.final(next_obs, next_masks, infos, [False, True])
    assert end_obs[:, 0].tolist() == [pytest.approx([0.1, 0.2]), pytest.approx([0.7, 0.8])]
    assert end_masks[:, 0].tolist() == [[True, True], [False, True]]
    assert next_obs[1, 0].tolist() == [0.0, 0.0]  # the next step still starts from the reset observation


def test_learner_runs_torch_on_its_own_threads_and_restores_them():
    learner = BatchedQ(mode="neural", device="cpu", torch_threads=1)  # neural: torch does the acting
    learner.build(["a"], [2], [2])
    seen = []
    values = learner._values
    learner._values = lambda state: seen.append(torch.get_num_threads()) or values(state)
    before = torch.get_num_threads()
    with torch_threads(2):
        learner.act({"a": np.zeros(2, np.float32)}, {"a": {"action_mask": np.ones(2, np.int8), "phase": 0}})
        assert torch.get_num_threads() == 2
    assert seen == [1] and torch.get_num_threads() == before


def test_building_a_neural_learner_leaves_torchs_global_generator_alone():
    """The networks' seeded initialisation draws from a generator of its own: the caller's global
    torch state is what it was, and the same seed gives the same networks whatever that state."""
    built = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        before = torch.random.get_rng_state()
        learner = BatchedQ(mode="neural", device="cpu", seed=3)
        learner.build(["a", "b"], [4, 4], [2, 2])
        assert torch.equal(torch.random.get_rng_state(), before)
        built.append(learner.online.state_dict())
    assert all(torch.equal(built[0][key], built[1][key]) for key in built[0])


def test_running_std_matches_numpy():
    stats = RunningStd()
    rng = np.random.default_rng(1)
    batches = [rng.normal(3.0, 2.0, size=k) for k in (1, 5, 32, 7)]
    for batch in batches:
        stats.update(batch)
    everything = np.concatenate(batches)
    assert stats.std == pytest.approx(everything.std(ddof=1)) and stats.mean == pytest.approx(everything.mean())


def test_learn_reads_the_learners_own_observation():
    from traffic_lam.env.factory import EnvFactory

    learner = BatchedQ(mode="tabular", observation="pressure", bins=4, device="cpu")
    learner.learn(EnvFactory("single-intersection", {"end_time": 60}), 1)
    assert learner.obs_dim == 2 * 4 + 1  # phase one-hot, min-green flag, one pressure per green
    assert (learner.obs_low < 0).any()  # the pressure bounds [-1, 1] are what it discretises over
    clash = BatchedQ(mode="tabular", device="cpu")
    with pytest.raises(ConfigError, match="observation"):
        clash.learn(EnvFactory("single-intersection", {"end_time": 60, "observation": "pressure"}), 1)


@pytest.mark.parametrize("mode", ["tabular", "neural"])
def test_train_save_load_gives_identical_actions(tmp_path, mode):
    from traffic_lam.env.factory import EnvFactory

    factory = EnvFactory("single-intersection", {"end_time": 100})
    learner = BatchedQ(mode=mode, device="cpu", learning_starts=4, batch_size=8, seed=1)
    learner.learn(factory, 2)
    assert learner.training_episodes == 2
    assert mode == "tabular" or learner.gradient_updates > 0  # gradient steps run inside the inference-mode loop
    path = learner.save(tmp_path / "model.pt")
    torch.load(path, weights_only=True)  # loadable with weights_only
    again = BatchedQ.load(path)
    expected = "wave" if mode == "tabular" else "wave-staleness"  # greedy's input (neural: and its memory)
    assert again.observation_spec() == learner.observation_spec() == expected
    env = factory(**learner.env_options())
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

    budget = TrainingBudget(
        episodes=1, num_envs=1, seed=0, checkpoint_every=1, checkpoint_dir=tmp_path, curve_file=tmp_path / "curve.csv"
    )
    factory = EnvFactory("single-intersection", {"end_time": 60})
    first = BatchedQ(device="cpu")
    first.learn(factory, budget)
    assert (tmp_path / "checkpoint.pt").is_file()
    budget = dataclasses.replace(budget, episodes=2)
    second = BatchedQ(device="cpu")
    second.learn(factory, budget)  # picks up after episode 1
    assert second.training_episodes == 2
    assert len((tmp_path / "curve.csv").read_text().strip().splitlines()) == 3  # header + 2 episodes


@pytest.mark.gpu
def test_cpu_and_cuda_give_the_same_updates():
    cfg = TabularConfig(alpha=0.3, gamma=0.9, shared=True, table_size=64)
    gen = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 64, (512,), generator=gen)
    actions = torch.randint(0, 3, (512,), generator=gen)
    rewards = torch.randn(512, generator=gen)
    nxt = torch.randint(0, 64, (512,), generator=gen)
    masks = torch.ones(512, 3, dtype=torch.bool)
    discounts = torch.where(torch.rand(512, generator=gen) < 0.1, 0.0, 0.9)
    tables = []
    for device in ("cpu", "cuda"):
        dev = torch.device(device)
        q = TabularQ(cfg, np.zeros((4, 1)), np.ones((4, 1)), 3, dev)
        for _ in range(3):
            q.update(*(t.to(dev) for t in (rows, actions, rewards, nxt, masks, discounts)))
        tables.append(q.q.cpu())
    assert torch.allclose(tables[0], tables[1], atol=1e-5)
    learner_cpu = BatchedQ(mode="neural", device="cpu", seed=0)
    learner_gpu = BatchedQ(mode="neural", device="cuda", seed=0)
    for learner in (learner_cpu, learner_gpu):
        learner.build(["a", "b"], [4, 4], [3, 3])
    learner_gpu.online.load_state_dict(learner_cpu.online.state_dict())
    obs = torch.rand(5, 2, 4)
    assert torch.allclose(learner_cpu.q_values(obs), learner_gpu.q_values(obs.cuda()).cpu(), atol=1e-5)


def test_compiled_and_tensor_paths_agree():
    """The CPU's compiled loops and the tensor operations (the GPU's path) on the same data: same
    rows, same epsilon-greedy choices from the same draws, same table after updates with duplicates."""
    low, high = np.zeros((3, 4), np.float32), np.array([[1, 1, np.inf, np.inf]] * 3, np.float32)  # linear, log2 bins
    learners = []
    for kernels in ("numba", "torch"):
        learner = BatchedQ(mode="tabular", device="cpu", kernels=kernels, shared=True, table_size=512, seed=5)
        learner._build_for(["a", "b", "c"], lambda a: spaces.Box(low[0], high[0]), lambda a: spaces.Discrete(3))
        learners.append(learner)
    assert [learner.table.compiled for learner in learners] == [True, False]
    gen = torch.Generator().manual_seed(0)
    # bin centres (no value on a bin edge, where float rounding may legitimately differ)
    obs = torch.cat([(torch.randint(0, 6, (40, 3, 2), generator=gen) + 0.5) / 6,
                     torch.randint(0, 50, (40, 3, 2), generator=gen).float()], -1)  # fmt: skip
    obs[20:] = obs[:20]  # the same states again later in the batch: duplicate (row, action) pairs
    masks = torch.rand(40, 3, 3, generator=gen) < 0.7
    masks[..., 0] |= ~masks.any(-1)
    rows = [learner.state_of(obs) for learner in learners]
    assert torch.equal(rows[0], rows[1])
    for _ in range(4):
        chosen = [
            learner._select(r, masks, torch.zeros(40, 3, dtype=torch.long), 0.5)
            for learner, r in zip(learners, rows, strict=True)
        ]
        assert torch.equal(chosen[0], chosen[1]) and masks.gather(-1, chosen[0].unsqueeze(-1)).all()
        rewards = torch.randn(120, generator=gen)
        for learner, r in zip(learners, rows, strict=True):
            flat = r.reshape(-1)  # 120 transitions on 3 signals sharing a table: many duplicates
            learner.table.update(flat, chosen[0].reshape(-1), rewards, flat.roll(1), masks.reshape(-1, 3),
                                 torch.full((120,), 0.9))  # fmt: skip
    assert torch.allclose(learners[0].table.q, learners[1].table.q, atol=1e-5)
    assert learners[0].table.q.abs().sum() > 0
    # a training step (hash the next observations, update): the fused compiled pass and the two tensor steps
    next_obs = obs.roll(1, 0)
    steps = [
        learner.table.learn(r, chosen[0], rewards.view(40, 3), next_obs, masks, torch.full((40, 3), 0.9))
        for learner, r in zip(learners, rows, strict=True)
    ]
    assert torch.equal(steps[0], steps[1]) and torch.equal(steps[0], learners[0].state_of(next_obs))
    assert torch.allclose(learners[0].table.q, learners[1].table.q, atol=1e-5)


def test_compiled_and_tensor_paths_agree_on_edges_and_empty_masks():
    """Bin edges, infinities and huge values bin alike on both paths; a signal with nothing
    allowed keeps its green on both; a compiled table survives pickling."""
    import pickle

    low, high = np.array([[-1.0, 0.0]], np.float32), np.array([[1.0, 1.0]], np.float32)
    tables = [
        TabularQ(TabularConfig(bins=10, table_size=1 << 20), low, high, 2, CPU, kernels=k) for k in ("numba", "torch")
    ]
    edges = torch.linspace(-1.0, 1.0, 2001)
    values = torch.cat([edges, torch.tensor([float("inf"), -float("inf"), 1e30, -1e30])])
    obs = torch.stack([values, values.clamp(0, 1)], -1).view(-1, 1, 2)
    rows = [t.rows(obs) for t in tables]
    assert torch.equal(rows[0], rows[1])
    learners = []
    for kernels in ("numba", "torch"):
        learner = BatchedQ(mode="tabular", device="cpu", kernels=kernels)
        learner.build(["a", "b"], [2, 2], [3, 2])
        learners.append(learner)
    masks = torch.tensor([[[False, False, False], [True, True, False]]])
    current = torch.tensor([[2, 1]])
    chosen = [learner.select(torch.zeros(1, 2, 2), masks, 0.0, current) for learner in learners]
    assert chosen[0].tolist() == chosen[1].tolist() == [[2, 0]]
    copy = pickle.loads(pickle.dumps(tables[0]))
    copy.update(*(t.view(1) for t in (torch.tensor(3), torch.tensor(1), torch.tensor(1.0), torch.tensor(3))),
                torch.ones(1, 2, dtype=torch.bool), torch.tensor([0.0]))  # fmt: skip
    assert copy.compiled and copy.q[3, 1].item() == pytest.approx(0.1) and tables[0].q[3, 1].item() == 0.0


@pytest.mark.parametrize("mode", ["tabular", "neural"])
def test_saved_learner_loads_from_its_path_alone_and_profiling_reports_a_share(tmp_path, mode):
    from traffic_lam.controllers import load
    from traffic_lam.controllers.batched_q import NeuralBatchedQ, TabularBatchedQ
    from traffic_lam.controllers.offpolicy import Profiler, train
    from traffic_lam.env.factory import EnvFactory
    from traffic_lam.errors import ControllerError

    expected = {"tabular": TabularBatchedQ, "neural": NeuralBatchedQ}[mode]
    options = {"learning_starts": 4, "batch_size": 8} if mode == "neural" else {"bins": 4}
    learner = BatchedQ(mode=mode, device="cpu", seed=2, **options)
    assert type(learner) is expected and learner.config == expected.config_class(device="cpu", seed=2, **options)
    factory = EnvFactory("single-intersection", {"end_time": 100})
    profiler = Profiler()
    train(learner, factory, TrainingBudget(episodes=2), profiler)
    assert learner.training_episodes == 2 and 0.0 <= profiler.learner_share <= 1.0
    assert profiler.simulated_s == 2 * 100 and 0.0 < profiler.waiting_s < profiler.wall_s
    path = learner.save(tmp_path / "model.pt")
    if mode == "neural":
        assert torch.load(path, weights_only=True)["optimizer"]["state"]  # resume keeps Adam's moments
    again = load(path)
    assert type(again) is expected and again.params == learner.params and again.params["mode"] == mode
    assert again.decision_steps == learner.decision_steps and again.training_episodes == 2
    with pytest.raises(ControllerError, match="builds a new controller"):
        learner.load(path)
    env = factory(**learner.env_options())
    try:
        obs, infos = env.reset(seed=7)
        for controller in (learner, again):
            controller.setup(env)
        for _ in range(8):
            actions = learner.act(obs, infos)
            assert again.act(obs, infos) == actions
            obs, _, _, _, infos = env.step(actions)
    finally:
        env.close()


def test_options_are_checked_against_the_modes_config():
    from traffic_lam.controllers.batched_q import NeuralBatchedQ, TabularBatchedQ

    assert type(BatchedQ()) is TabularBatchedQ and BatchedQ().config.bins == 6  # the quickstart's defaults
    assert isinstance(BatchedQ(mode="neural", device="cpu"), NeuralBatchedQ)
    with pytest.raises(ConfigError, match="mode: expected one of tabular, neural"):
        BatchedQ(mode="dueling")
    with pytest.raises(ConfigError, match="unknown option 'binz'"):
        BatchedQ(binz=4)
    with pytest.raises(ConfigError, match="is mode 'tabular'"):
        TabularBatchedQ(mode="neural")
    with pytest.warns(UserWarning, match="ignores hidden"):
        BatchedQ(mode="tabular", hidden=32)


def test_loading_on_a_device_picks_its_kernels(tmp_path):
    from traffic_lam.controllers import load

    path = BatchedQ(kernels="torch", device="cpu").save(tmp_path / "untrained.pt")
    assert load(path).params["kernels"] == "torch"
    assert load(path, device="cpu").params["kernels"] == "auto"  # the kernels that suit the device it is loaded on


def test_anneal_lr_decays_the_neural_step_size_over_the_planned_steps(tmp_path):
    from traffic_lam.env.factory import EnvFactory

    factory = EnvFactory("single-intersection", {"end_time": 100})
    rates = {}
    for anneal in (False, True):
        learner = BatchedQ(mode="neural", device="cpu", learning_starts=4, batch_size=8, learning_rate=0.01,
                           anneal_lr=anneal)  # fmt: skip
        learner.learn(factory, 2)
        assert learner.gradient_updates > 0
        rates[anneal] = learner.optimizer.param_groups[0]["lr"]  # the last gradient step's
        assert learner.remaining_fraction() == pytest.approx(1 - learner.decision_steps / learner._planned_steps)
    assert rates[False] == 0.01
    assert 0.0 <= rates[True] < 0.01 * 0.25  # the last steps of the budget
    with pytest.warns(UserWarning, match="ignores anneal_lr"):  # a neural option
        BatchedQ(mode="tabular", anneal_lr=True)
