"""Run independent jobs: in this process, in a local process pool, or as Ray tasks.

libsumo runs one simulation per process, so jobs run in spawned worker processes (never
forked from a parent holding libsumo) and each job closes its simulation before the next
one starts in the same process (should one not, the environment notices libsumo is busy
and moves its simulation to a process of its own). Ray is an optional extra
(``pip install -e .[ray]``): it connects to ``RAY_ADDRESS`` when set, otherwise starts a
local instance.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from traffic_lam.errors import ConfigError

EXECUTORS = ("local", "ray")
J = TypeVar("J")


@dataclass(frozen=True)
class Outcome(Generic[J]):
    """What a job produced: its result, or the error message it failed with."""

    job: J
    result: Any = None
    error: str | None = None


def run_jobs(
    fn: Callable[[J], Any], jobs: Sequence[J], workers: int = 1, executor: str = "local"
) -> Iterator[Outcome[J]]:
    """Run ``fn(job)`` for every job, yielding outcomes as they complete.

    Args:
        fn: a module-level (picklable) function.
        jobs: picklable job descriptions.
        workers: jobs at a time.
        executor: ``"local"`` (this process when ``workers == 1``, else a process pool)
            or ``"ray"``.

    Raises:
        ConfigError: unknown executor, bad worker count, or Ray not installed.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {workers!r}")
    if executor == "local":
        yield from (_in_process(fn, jobs) if workers == 1 else _pool(fn, jobs, workers))
    elif executor == "ray":
        yield from _ray(fn, jobs, workers)
    else:
        raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")


def _in_process(fn: Callable[[J], Any], jobs: Sequence[J]) -> Iterator[Outcome[J]]:
    for job in jobs:
        try:
            yield Outcome(job, fn(job))
        except Exception as exc:  # reported per job; the run goes on
            yield Outcome(job, error=_describe(exc))


def _pool(fn: Callable[[J], Any], jobs: Sequence[J], workers: int) -> Iterator[Outcome[J]]:
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[Future, J] = {pool.submit(fn, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    yield Outcome(job, future.result())
                except Exception as exc:
                    yield Outcome(job, error=_describe(exc))


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
                yield Outcome(job, error=_describe(getattr(exc, "cause", None) or exc))
    finally:
        if started_here:
            ray.shutdown()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"
