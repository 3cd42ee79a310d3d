"""Run a :class:`SimulationEngine` in a worker process (libsumo: one simulation per process).

The worker is started with the ``spawn`` method, so it never inherits a loaded libsumo
from the parent. Calls are split into ``*_async`` / ``*_wait`` halves so that a
vector of workers steps its simulations concurrently.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import traceback
from multiprocessing.connection import Connection
from typing import Any

from traffic_lam import errors
from traffic_lam.env.config import EnvConfig
from traffic_lam.env.engine import SimulationEngine, StepResult
from traffic_lam.signals import SignalLayout


def _serve(pipe: Connection, config: EnvConfig, layouts: dict[str, SignalLayout]) -> None:
    """Worker main loop: answer ``reset`` / ``step`` / ``close`` commands."""
    engine: SimulationEngine | None = None
    try:
        engine = SimulationEngine(config, layouts)
        pipe.send(("ok", None))
        while True:
            command, payload = pipe.recv()
            if command == "close":
                break
            try:
                if command == "reset":
                    seed, extra_options = payload
                    pipe.send(("ok", engine.reset(seed, extra_options)))
                elif command == "step":
                    pipe.send(("ok", engine.step(payload)))
                else:
                    pipe.send(("error", ("SimulationError", f"unknown worker command {command!r}")))
            except errors.TrafficLamError as exc:
                pipe.send(("error", (type(exc).__name__, str(exc))))
            except Exception as exc:  # an unexpected bug: pass the traceback along
                pipe.send(("error", ("SimulationError", f"{exc!r}\n{traceback.format_exc()}")))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    except errors.TrafficLamError as exc:
        pipe.send(("error", (type(exc).__name__, str(exc))))
    finally:
        if engine is not None:
            engine.close()
        pipe.close()


class RemoteEngine:
    """A :class:`SimulationEngine` living in its own process; same reset/step/close."""

    def __init__(self, config: EnvConfig, layouts: dict[str, SignalLayout]) -> None:
        context = mp.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, config, layouts), daemon=True)
        self._process.start()
        child.close()
        self._receive()

    @property
    def running(self) -> bool:
        """Whether the worker process is alive."""
        return self._process.is_alive()

    def reset_async(self, seed: int, extra_options: tuple[str, ...] = ()) -> None:
        """Ask the worker to reset with ``seed`` (and per-episode SUMO flags); collect with :meth:`wait`."""
        self._send(("reset", (seed, tuple(extra_options))))

    def step_async(self, actions: dict[str, int]) -> None:
        """Ask the worker to step; collect with :meth:`wait`."""
        self._send(("step", actions))

    def wait(self) -> Any:
        """The answer to the last ``*_async`` call."""
        return self._receive()

    def reset(self, seed: int, extra_options: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset and wait (see :meth:`SimulationEngine.reset`)."""
        self.reset_async(seed, extra_options)
        return self.wait()

    def step(self, actions: dict[str, int]) -> StepResult:
        """Step and wait (see :meth:`SimulationEngine.step`)."""
        self.step_async(actions)
        return self.wait()

    def close(self) -> None:
        """Stop the worker process."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._pipe.send(("close", None))
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._pipe.close()

    def _send(self, message: tuple[str, Any]) -> None:
        try:
            self._pipe.send(message)
        except (BrokenPipeError, OSError):
            raise errors.SimulationError("the simulation worker process is gone") from None

    def _receive(self) -> Any:
        try:
            status, payload = self._pipe.recv()
        except (EOFError, OSError):
            raise errors.SimulationError(
                f"the simulation worker process died (exit code {self._process.exitcode})"
            ) from None
        if status == "error":
            name, message = payload
            raise getattr(errors, name, errors.SimulationError)(message)
        return payload
