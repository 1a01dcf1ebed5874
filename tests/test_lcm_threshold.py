"""J1 compares the LCM's confidence with τ exactly: late-round τ values such
as 0.9999 and 0.9999999 (the authors' Cityscapes schedule) sit within
float32's rounding of 1."""
import numpy as np
import pytest
import torch
from torch import nn

from a2lc_napari.engine.lcm import select_updates


def fixed_mlp(logit: float) -> nn.Module:
    """Predicts class 1 with logits (0, logit, -50) for any input."""
    mlp = nn.Linear(3, 3)
    with torch.no_grad():
        mlp.weight.zero_()
        mlp.bias.copy_(torch.tensor([0.0, logit, -50.0]))
    return mlp


def confidence_just_below(tau: float) -> tuple[float, float]:
    """A float32 logit whose exact confidence is below ``tau`` while that
    confidence rounded to float32 is not."""
    for logit in np.float32(np.log(tau / (1 - tau))) - np.arange(1, 400) * np.float32(1e-6):
        logit = np.float32(logit)
        p = 1 / (1 + np.exp(-np.float64(logit)) + np.exp(-50 - np.float64(logit)))
        if p < tau <= np.float32(p):
            return float(logit), p
    raise AssertionError("no such logit")


@pytest.mark.parametrize("tau", [0.9999, 0.9999999])
def test_tau_is_compared_in_full_precision(tau):
    logit, p = confidence_just_below(tau)
    args = dict(features=np.ones((1, 3), np.float32), current=np.array([0]),
                eligible=np.array([True]), answer_counts=np.array([5, 5, 1]), alpha=0.5)
    below = select_updates(fixed_mlp(logit), tau=tau, **args)
    assert below.predicted[0] == 1 and below.confidence[0] == pytest.approx(p, abs=1e-12)
    assert not below.update[0]
    assert select_updates(fixed_mlp(logit), tau=p, **args).update[0]  # at τ = p it passes
