"""Torch's process-wide state a learner borrows and gives back: its CPU threads, its seeded generator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch's CPU operations on ``threads`` intra-op threads (restored afterwards; <= 0: unchanged).

    The learner's tensors are small (hundreds of elements): a second thread buys
    nothing, and while the simulations keep the other cores busy, an operation that
    waits for a descheduled OpenMP thread stalls for far longer than the work takes.
    """
    if threads <= 0:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Draw from torch's CPU generator seeded with ``seed`` (initialisation); the caller's state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
