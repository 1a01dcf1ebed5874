"""Adam(W) and the one-cycle schedule match torch.optim, without its compiler.

torch.optim is only imported in child processes: once loaded, its compiler
(triton's LLVM) would stay in this process, where napari's tests draw with
Mesa's LLVM.
"""
import subprocess
import sys
import textwrap

import pytest


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


TRAIN = """
    import sys
    import torch
    from torch import nn

    def train(make, steps=9, foreach=None):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        groups = [{"params": net[0].parameters(), "lr": 0.05},
                  {"params": net[2].parameters(), "lr": 0.01}]
        opt, sched = make(groups, steps, foreach)
        x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        lrs = []
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            sched.step()
            lrs.append([(g["lr"], g["betas"][0]) for g in opt.param_groups])
        return torch.cat([p.flatten() for p in net.parameters()]), torch.tensor(lrs)

    def ours(groups, steps, foreach):
        from a2lc_napari.engine.optim import Adam, OneCycle
        opt = Adam(groups, lr=0.01, weight_decay=1e-2, decoupled=True, foreach=foreach)
        return opt, OneCycle(opt, [g["lr"] for g in opt.param_groups], steps)

    def torchs(groups, steps, foreach):
        opt = torch.optim.AdamW(groups, lr=0.01, weight_decay=1e-2, foreach=foreach)
        return opt, torch.optim.lr_scheduler.OneCycleLR(
            opt, [g["lr"] for g in opt.param_groups], total_steps=steps)
"""


@pytest.mark.parametrize("steps", [1, 9])
def test_adamw_with_one_cycle_matches_torch_optim(steps):
    out = run(TRAIN + f"""
    for foreach in (False, True):
        a, lr_a = train(ours, {steps}, foreach)
        b, lr_b = train(torchs, {steps}, foreach)
        print(float((a - b).abs().max()), float((lr_a - lr_b).abs().max()))
    """)
    for line in out.split("\n")[:2]:
        weights, schedule = map(float, line.split())
        assert weights < 1e-6 and schedule < 1e-9


def test_plain_adam_matches_torch_optim():
    out = run("""
    import torch
    from a2lc_napari.engine.optim import Adam
    ws = []
    for make in (lambda p: Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1)):
        w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        opt = make([w])
        for _ in range(5):
            opt.zero_grad()
            (w ** 2).sum().backward()
            opt.step()
        assert w.grad is not None
        ws.append(w.detach())
    print(float((ws[0] - ws[1]).abs().max()))
    """)
    assert float(out) < 1e-7


def test_training_never_imports_the_compiler():
    """Both the single-tensor step and the multi-tensor one torch picks on CUDA."""
    out = run(TRAIN + """
    for foreach in (False, True):
        train(ours, 3, foreach)
    from a2lc_napari.engine.config import LCMConfig
    from a2lc_napari.engine.lcm import train_lcm
    import numpy as np
    train_lcm(np.eye(3, dtype=np.float32), np.arange(3), 3, LCMConfig(), seed=0)
    print(sorted(m for m in ("torch._dynamo", "triton") if m in sys.modules))
    """)
    assert out.strip() == "[]"
