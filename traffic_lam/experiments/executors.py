"""Run independent jobs: in this process, in local worker processes, or as Ray tasks.

libsumo runs one simulation per process, so jobs run in spawned worker processes (never
forked from a parent holding libsumo) and each job closes its simulation before the next
one starts in the same process (should one not, the environment notices libsumo is busy
and moves its simulation to a process of its own). Ray is an optional extra
(``pip install -e .[ray]``): it connects to ``RAY_ADDRESS`` when set, otherwise starts a
local instance.

Faults stay with their job: an exception becomes that job's :class:`Outcome` (message
and traceback), and a local worker process that dies (killed, crashed inside SUMO)
fails only the job it was running; a fresh worker takes its place for the jobs left.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing as mp
import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from traffic_lam.errors import ConfigError
from traffic_lam.validation import require_int

EXECUTORS = ("local", "ray")
J = TypeVar("J")

_STOP_TIMEOUT_S = 10.0
"""How long a worker told to stop may take before it is terminated."""


@dataclass(frozen=True)
class Outcome(Generic[J]):
    """What a job produced: its result, or the error it failed with.

    Attributes:
        job: the job.
        result: what the job's function returned (None when it failed).
        error: one line, ``ExceptionType: last line of its message``, or None on success.
        traceback: the full traceback text of a failure (or how the worker process died).
    """

    job: J
    result: Any = None
    error: str | None = None
    traceback: str | None = None


def check_executor(workers: int, executor: str = "local") -> None:
    """Check a worker count and an executor name before anything starts.

    Raises:
        ConfigError: not an integer >= 1, an unknown executor, or Ray not installed.
    """
    require_int("--workers", workers, 1)
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor ray needs Ray: pip install -e .[ray]")


def run_jobs(
    fn: Callable[[J], Any], jobs: Sequence[J], workers: int = 1, executor: str = "local"
) -> Iterator[Outcome[J]]:
    """Run ``fn(job)`` for every job, yielding outcomes as they complete.

    Args:
        fn: a module-level (picklable) function.
        jobs: picklable job descriptions.
        workers: jobs at a time.
        executor: ``"local"`` (this process when ``workers == 1``, else worker processes)
            or ``"ray"``.

    Raises:
        ConfigError: unknown executor, bad worker count, or Ray not installed.
    """
    check_executor(workers, executor)
    if executor == "ray":
        yield from _ray(fn, jobs, workers)
    else:
        yield from (_in_process(fn, jobs) if workers == 1 else _pool(fn, jobs, workers))


def _in_process(fn: Callable[[J], Any], jobs: Sequence[J]) -> Iterator[Outcome[J]]:
    for job in jobs:
        try:
            result = fn(job)
        except Exception as exc:  # reported per job; the run goes on
            yield _failed(job, exc)
        else:
            yield Outcome(job, result)


def _failed(job: J, exc: BaseException, trace: str | None = None) -> Outcome[J]:
    text = trace or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Outcome(job, error=_describe(exc), traceback=text)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def _serve(pipe: Connection, fn: Callable[[Any], Any]) -> None:
    """Worker process main loop: run each job received, answer ``(result, None, None)`` or ``(None, error, trace)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    while True:
        try:
            job = pipe.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        try:
            answer = (fn(job), None, None)
        except Exception as exc:
            failed = _failed(job, exc)
            answer = (None, failed.error, failed.traceback)
        try:
            pipe.send(answer)
        except Exception as exc:  # a result that does not pickle
            failed = _failed(job, exc)
            pipe.send((None, failed.error, failed.traceback))


class _Worker:
    """One spawned worker process and its pipe (not daemonic: its jobs may start processes of their own)."""

    def __init__(self, context: Any, fn: Callable[[Any], Any]) -> None:
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, fn), daemon=False)
        self.process.start()
        child.close()

    def stop(self, now: bool = False) -> None:
        """Ask the worker to finish (``now``: terminate it at once), and terminate it if it does not in time."""
        if not now:
            with contextlib.suppress(OSError, ValueError):
                self.pipe.send(None)
            self.process.join(_STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.pipe.close()


def _pool(fn: Callable[[J], Any], jobs: Sequence[J], workers: int) -> Iterator[Outcome[J]]:
    """Up to ``workers`` worker processes, one job each at a time; a dead worker fails its job and is replaced."""
    context = mp.get_context("spawn")
    waiting: deque[J] = deque(jobs)
    idle: list[_Worker] = []
    busy: dict[_Worker, J] = {}
    try:
        while waiting or busy:
            while waiting and len(busy) < workers:
                worker = idle.pop() if idle else _Worker(context, fn)
                job = waiting.popleft()
                worker.pipe.send(job)
                busy[worker] = job
            wait([w.pipe for w in busy] + [w.process.sentinel for w in busy])
            for worker in [w for w in busy if w.pipe.poll() or not w.process.is_alive()]:
                job = busy.pop(worker)
                outcome = _answer(worker, job)
                if worker.process.is_alive():
                    idle.append(worker)
                else:
                    worker.stop()
                yield outcome
    finally:  # done, or interrupted: busy workers are stopped at once
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.stop(now=True)


def _answer(worker: _Worker, job: J) -> Outcome[J]:
    """The outcome a worker sent for ``job``, or the failure its death means."""
    try:
        result, error, trace = worker.pipe.recv()
    except (EOFError, OSError):
        worker.process.join()
        died = _death(worker.process.exitcode)
        return Outcome(job, error=died, traceback=f"{died}: no traceback (the process ended without reporting)\n")
    if error is not None:
        return Outcome(job, error=error, traceback=trace)
    return Outcome(job, result)


def _death(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker process died (killed by {name})"
    return f"worker process died (exit code {exitcode})"


def _ray(fn: Callable[[J], Any], jobs: Sequence[J], workers: int) -> Iterator[Outcome[J]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install -e .[ray]") from None
    started_here = not ray.is_initialized()
    if started_here:
        address = os.environ.get("RAY_ADDRESS")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if not address:
            options["num_cpus"] = workers
        ray.init(address=address, **options)
    try:
        remote = ray.remote(num_cpus=1)(fn)
        pending = {remote.remote(job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield Outcome(job, ray.get(done[0]))
            except Exception as exc:
                yield _failed(job, getattr(exc, "cause", None) or exc, getattr(exc, "traceback_str", None))
    finally:
        if started_here:
            ray.shutdown()
