"""Adam(W) and the one-cycle learning-rate schedule, without ``torch.optim.Optimizer``.

``torch.optim.Optimizer`` and its schedulers import torch's compiler
(``torch._dynamo``, and with it triton's LLVM) when they are first used.
In napari's process that LLVM crashes against the one Mesa's OpenGL has
loaded to draw the canvas. The maths here is torch's own: the step is
torch's functional :func:`torch.optim.adam.adam`, which touches the
compiler only while compiling, and the schedule is that of
:class:`torch.optim.lr_scheduler.OneCycleLR` with its defaults (cosine
annealing, β₁ cycled between 0.85 and 0.95).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.adam import adam


class Adam:
    """Adam, or AdamW with ``decoupled=True``, on groups of parameters.

    Parameters
    ----------
    params : iterable of Tensor, or of dict
        The parameters, or groups ``{"params": [...], "lr": ...}`` whose
        keys override the defaults below for that group.
    lr, betas, eps, weight_decay : float
        As in :class:`torch.optim.Adam`.
    decoupled : bool
        Decay the weights apart from the gradient (AdamW).
    foreach : bool or None
        Use torch's multi-tensor kernels; None: torch's choice (on for CUDA).

    Attributes
    ----------
    param_groups : list of dict
        Each group's ``params`` and settings; a schedule changes ``lr`` and
        ``betas`` here between steps.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False,
                 foreach: bool | None = None):
        params = list(params)
        if not params or not isinstance(params[0], dict):
            params = [{"params": params}]
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        self.param_groups = [{**defaults, **g, "params": list(g["params"])} for g in params]
        self.decoupled, self.foreach = decoupled, foreach
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Forget the gradients (set them to None, as torch does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if p not in self.state:
                    self.state[p] = {"step": torch.tensor(0.0),
                                     "exp_avg": torch.zeros_like(p),
                                     "exp_avg_sq": torch.zeros_like(p)}
            states = [self.state[p] for p in params]
            beta1, beta2 = group["betas"]
            adam(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                 [s["exp_avg_sq"] for s in states], [], [s["step"] for s in states],
                 foreach=self.foreach, amsgrad=False, beta1=beta1, beta2=beta2,
                 lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
                 maximize=False, decoupled_weight_decay=self.decoupled)


def _anneal(start: float, end: float, fraction: float) -> float:
    """Cosine from ``start`` (fraction 0) to ``end`` (fraction 1)."""
    return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)


class OneCycle:
    """The one-cycle schedule of the learning rate and β₁, per group.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the steps while β₁ falls from ``max_momentum`` to
    ``base_momentum``, then the rate falls to ``max_lr / div_factor /
    final_div_factor`` while β₁ rises back; both follow cosines.

    Parameters
    ----------
    optimizer : Adam
        Its groups' ``lr`` and ``betas`` are set now (step 0) and at each
        :meth:`step`.
    max_lr : list of float
        The peak rate of each group.
    total_steps : int
        The number of optimiser steps.
    """

    def __init__(self, optimizer: Adam, max_lr: list[float], total_steps: int,
                 pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, base_momentum: float = 0.85,
                 max_momentum: float = 0.95):
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}")
        self.optimizer, self.total_steps = optimizer, total_steps
        self.rates = [(m / div_factor, m, m / div_factor / final_div_factor) for m in max_lr]
        self.momenta = (max_momentum, base_momentum)
        self.peak = pct_start * total_steps - 1  # the step at the top of the cycle
        self.done = 0
        self._apply()

    def step(self) -> None:
        """Move to the next step's rate and β₁."""
        self.done += 1
        self._apply()

    def _apply(self) -> None:
        n, last = self.done, self.total_steps - 1
        if n <= self.peak:
            fraction, rising = n / self.peak, True
        else:
            fraction, rising = (n - self.peak) / (last - self.peak), False
        high, low = self.momenta
        for group, (initial, top, final) in zip(self.optimizer.param_groups, self.rates):
            if rising:
                group["lr"] = _anneal(initial, top, fraction)
                beta1 = _anneal(high, low, fraction)
            else:
                group["lr"] = _anneal(top, final, fraction)
                beta1 = _anneal(low, high, fraction)
            group["betas"] = (beta1, group["betas"][1])
