"""Speed and memory of ``a2lc rank`` at Cityscapes size.

Writes a synthetic dataset of 1024×2048 images (``--size``) with K = 19
softmax maps (float32 ``.npy``) and ~320 regions per image, then
measures, in one run:

- the time to merely read every probability file (``np.load``),
- the time of the whole ``a2lc rank`` command (checking the dataset,
  reading labels, regions and probabilities, ranking, writing the JSON),
  in one process (``--workers 1``) and on one worker process per core,
- the peak memory of ``a2lc rank`` (the main process's) on 16 and on 40 images.

Each measurement runs in a fresh process, after one warm-up read, so every
file comes from the page cache in both timings; the three are taken in turn
``--repeat`` times and the fastest of each kept, so that other work on a
shared machine weighs on them alike. Prints a Markdown table.

    python benchmarks/speed.py --out runs/speed
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from a2lc_napari.engine.classes import CITYSCAPES_CLASSES
from a2lc_napari.engine.parallel import cpu_count

K = 19


def make_image(rng, folder: Path, name: str, size: tuple[int, int]) -> None:
    """One (H, W) image: blocky labels, ~320 regions, smooth softmax maps."""
    H, W = size
    grid = (16, 20)
    jitter = rng.integers(-20, 20, (2, *grid))
    rows = np.clip(np.arange(H)[:, None] // (H // grid[0]), 0, grid[0] - 1)
    cols = np.clip(np.arange(W)[None, :] // (W // grid[1] + 1), 0, grid[1] - 1)
    # shift block borders so regions are not all rectangles of one size
    r = np.clip((np.arange(H)[:, None] + jitter[0][rows, cols]) // (H // grid[0]), 0, grid[0] - 1)
    regions = (r * grid[1] + cols + 1).astype(np.int32)
    classes = rng.integers(0, K, regions.max() + 1).astype(np.uint8)
    labels = classes[regions]
    labels[rng.random((H, W)) < 0.001] = 255
    logits = torch.from_numpy(rng.normal(0, 3, (1, K, H // 16, W // 16)).astype(np.float32))
    probs = F.interpolate(logits, size=(H, W), mode="bilinear").softmax(1)[0].numpy()
    for sub in ("images", "labels", "regions", "probs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(folder / "images" / f"{name}.png")
    Image.fromarray(labels).save(folder / "labels" / f"{name}.png")
    np.save(folder / "regions" / f"{name}.npy", regions)
    np.save(folder / "probs" / f"{name}.npy", probs)


def subset(full: Path, n: int, names: list[str]) -> Path:
    """A dataset folder of the first n images, made of symlinks."""
    folder = full.parent / f"{full.name}_{n}"
    for sub, ext in (("images", "png"), ("labels", "png"), ("regions", "npy"), ("probs", "npy")):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for name in names[:n]:
            link = folder / sub / f"{name}.{ext}"
            if not link.exists():
                link.symlink_to((full / sub / f"{name}.{ext}").resolve())
    (folder / "classes.json").write_text((full / "classes.json").read_text())
    return folder


CHILD = """
import json, sys, time
from pathlib import Path
import numpy as np
what, folder, workers = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
if what == "read":
    for f in sorted((folder / "probs").glob("*.npy")):
        np.load(f)
else:
    from a2lc_napari.cli import main
    code = main(["rank", str(folder), "--probs", str(folder / "probs"), "--method", what,
                 "--json", str(folder.parent / f"rank_{what}.json"), "-q",
                 "--workers", workers])
    if code:
        sys.exit(code)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would be the
# peak of this benchmark's own process when that is larger
status = Path("/proc/self/status").read_text()
peak_kb = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM")))
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))
"""


def measure(what: str, folder: Path, workers: int = 1) -> dict:
    """Run one measurement in a fresh process (its own peak memory)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(folder.parent / "cache")}
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(folder), str(workers)],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{what} on {folder} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/speed"))
    parser.add_argument("--images", type=int, nargs="+", default=[16, 40])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 2048], metavar=("H", "W"))
    args = parser.parse_args()

    full = args.out / "cityscapes_like"
    names = [f"img_{i:03d}" for i in range(max(args.images))]
    rng = np.random.default_rng(0)
    (full / "probs").mkdir(parents=True, exist_ok=True)
    sizes = {np.load(f, mmap_mode="r").shape[1:] for f in (full / "probs").glob("*.npy")}
    if sizes - {tuple(args.size)}:
        sys.exit(f"{full} holds maps of another size: remove it or choose another --out")
    (full / "classes.json").write_text(json.dumps(CITYSCAPES_CLASSES.to_json()))
    for name in names:
        if not (full / "probs" / f"{name}.npy").exists():
            make_image(rng, full, name, args.size)

    cores = cpu_count()
    rows = []
    for n in args.images:
        folder = subset(full, n, names)
        measure("read", folder)  # warm the page cache
        for method in ("a2lc", "alc"):
            runs = [(measure("read", folder), measure(method, folder, 1),
                     measure(method, folder, cores)) for _ in range(args.repeat)]
            read, one, every = (min(r[i]["seconds"] for r in runs) for i in range(3))
            rows.append((n, method, read, one, every, max(r[1]["peak_mb"] for r in runs)))
            print(rows[-1], flush=True)

    print(f"\n`a2lc rank` at {args.size[0]}×{args.size[1]}, K = {K}, float32 probabilities, "
          f"~320 regions per image, {cores} cores\n")
    print(f"| images | method | read only (s) | rank, 1 process (s) | rank / read | "
          f"rank, {cores} workers (s) | rank / read | speed-up | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, method, read, one, every, peak in rows:
        print(f"| {n} | {method} | {read:.1f} | {one:.1f} | {one / read:.2f}× | {every:.1f} | "
              f"{every / read:.2f}× | {one / every:.2f}× | {peak:.0f} |")

if __name__ == "__main__":
    main()
