"""Faults and dangerous options stopped at the environment: nan/inf, gui without display, refused flags, max green."""

import itertools
import math
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from gymnasium import spaces

import traffic_lam
from traffic_lam.errors import ConfigError, SignalValueError, SimulationError
from traffic_lam.sim import connection

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's")


class NanAfter20s:
    """A reward that breaks at t = 20 s."""

    def __call__(self, signal):
        return math.nan if signal.now >= 20 else 0.0


class InfAfter10s:
    """An observation whose second number becomes inf at t = 10 s."""

    def space(self, signal):
        return spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    def __call__(self, signal):
        return np.array([0.0, np.inf if signal.now >= 10 else 0.0], dtype=np.float32)


def play(env, seed=0):
    """Keep every signal on its current green until the episode ends."""
    _, infos = env.reset(seed=seed)
    while env.agents:
        _, _, _, _, infos = env.step({a: infos[a]["phase"] for a in env.agents})


def one_line_error(env, error):
    with pytest.raises(error) as caught:
        play(env)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "options, message",
    [
        ({"reward": NanAfter20s}, "reward 'tests.test_env_faults:NanAfter20s' gave nan for signal '{}' at t=20 s"),
        (
            {"observation": InfAfter10s},
            "observation 'tests.test_env_faults:InfAfter10s' gave inf (at index 1) for signal '{}' at t=10 s",
        ),
    ],
)
def test_nan_or_inf_stops_the_episode_with_one_line_naming_the_signal(options, message):
    env = traffic_lam.make_env("single-intersection", end_time=60, **options)
    try:
        assert one_line_error(env, SignalValueError) == message.format(env.possible_agents[0])
    finally:
        env.close()


def test_nan_from_a_worker_process_arrives_as_the_same_error():
    first = traffic_lam.make_env("single-intersection", end_time=60)
    second = traffic_lam.make_env("single-intersection", end_time=60, reward=NanAfter20s)
    try:
        first.reset(seed=0)  # holds this process's libsumo: the second runs in a worker
        message = one_line_error(second, SignalValueError)
        assert second.runs_in_worker
    finally:
        second.close()
        first.close()
    assert message.startswith("reward 'tests.test_env_faults:NanAfter20s' gave nan for signal ")


def gui_error(error):
    """The one-line error a gui episode fails with, checking that it came within seconds."""
    env = traffic_lam.make_env("single-intersection", end_time=60, gui=True)
    started = time.monotonic()
    try:
        message = one_line_error(env, error)
    finally:
        env.close()
    assert time.monotonic() - started < 10
    return message


@linux_only
def test_gui_without_display_fails_at_once_with_one_line(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    message = gui_error(ConfigError)
    assert message.startswith("gui: no display (DISPLAY is not set)") and "xvfb-run" in message


@linux_only
def test_gui_that_cannot_open_its_display_fails_within_seconds(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":4242")  # no X server there: sumo-gui exits at once
    assert "sumo-gui exited with code" in gui_error(SimulationError)


def test_a_sumo_that_never_opens_its_port_is_given_up_after_the_timeout(monkeypatch):
    monkeypatch.setattr(connection, "TRACI_CONNECT_TIMEOUT_S", 1.0)
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    started = time.monotonic()
    with pytest.raises(SimulationError, match="did not open its TraCI port within 1 s"):
        connection.start(sleeper, "traci", "never-listens")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--step-length", "0.5"], "--step-length is refused: the engine counts 1 s per SUMO step"),
        (["--seed", "3"], r"--seed is refused: use reset\(seed=\.\.\.\)"),
        (["--end=30"], "--end is refused: use end_time"),
        (["-n", "other.net.xml"], r"-n \(--net-file\) is refused: use the network option"),
        (["--scale", "2", "--random"], "--random is refused"),
        (["--waiting-time-memory", "100"], "--waiting-time-memory is refused: fixed at 1000 s"),
        (["--time-to-teleport", "300"], "--time-to-teleport is refused: use time_to_teleport"),
    ],
)
def test_flags_the_engine_sets_or_that_corrupt_measurements_are_refused(flags, message):
    with pytest.raises(ConfigError, match=f"^sumo_options: {message}") as caught:
        traffic_lam.make_env("single-intersection", end_time=60, sumo_options=flags)
    assert "\n" not in str(caught.value)


def test_refused_flags_are_refused_per_episode_too_and_harmless_ones_run():
    env = traffic_lam.make_env("single-intersection", end_time=60, sumo_options=["--scale", "1"])
    try:
        with pytest.raises(ConfigError, match=r"^reset options: sumo_options: --step-length is refused"):
            env.reset(seed=0, options={"sumo_options": ["--step-length", "0.5"]})
        play(env)
    finally:
        env.close()


def green_spans(tmp_path, timing):
    """Play ``play`` (it never asks for a change: max green forces every one); the greens SUMO showed.

    Returns ``(start time, duration)`` of every green span that ended before the episode did.
    """
    sid = traffic_lam.make_env("single-intersection", end_time=90).possible_agents[0]
    out, add = tmp_path / "tls-states.xml", tmp_path / "tls.add.xml"
    add.write_text(f'<additional><timedEvent type="SaveTLSStates" source="{sid}" dest="{out}"/></additional>')
    env = traffic_lam.make_env("single-intersection", end_time=90, sumo_options=["-a", str(add)], **timing)
    try:
        play(env)
    finally:
        env.close()
    greens = env.layouts[sid].greens
    states = [(float(e.get("time")), e.get("state")) for e in ET.parse(out).getroot().iter("tlsState")]
    starts = [(t, s) for i, (t, s) in enumerate(states) if i == 0 or states[i - 1][1] != s]
    return [(t, t_next - t) for (t, s), (t_next, _) in itertools.pairwise(starts) if s in greens]


@pytest.mark.parametrize(
    "timing",
    [
        dict(delta_time=5, yellow_time=2, all_red_time=0, min_green=5, max_green=11),
        dict(delta_time=7, yellow_time=3, all_red_time=1, min_green=5, max_green=10),
    ],
)
def test_max_green_overrun_as_sumo_recorded_it_never_exceeds_delta_time_minus_one(tmp_path, timing):
    spans = green_spans(tmp_path, timing)
    assert len(spans) >= 3
    delta, max_green = timing["delta_time"], timing["max_green"]
    transition = timing["yellow_time"] + timing["all_red_time"]
    for start, duration in spans:
        offset = 0 if start == 0 else transition  # a green starts after the transition, the first at the begin
        assert duration == next(k * delta - offset for k in range(1, 100) if k * delta - offset >= max_green)
        assert 0 <= duration - max_green <= delta - 1
