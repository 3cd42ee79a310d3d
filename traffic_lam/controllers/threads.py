"""How many CPU threads a learner's torch operations use while the simulations run beside it."""

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
