"""Batched Q-networks: every signal's network evaluated in one batched matmul.

``BatchedMLP`` holds ``num_nets`` independent MLPs as stacked weight tensors and runs
them together with ``torch.baddbmm`` (no Python loop over signals). With parameter
sharing there is one net, and the signal's one-hot id is appended to its observation.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BatchedMLP(nn.Module):
    """``num_nets`` two-hidden-layer MLPs evaluated together.

    Args:
        num_nets: number of independent networks.
        in_dim: input size.
        hidden: hidden width.
        out_dim: output size (actions).
    """

    def __init__(self, num_nets: int, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in ((in_dim, hidden), (hidden, hidden), (hidden, out_dim)):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(num_nets, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_nets, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[num_nets, batch, in_dim] -> [num_nets, batch, out_dim]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x
