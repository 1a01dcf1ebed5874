"""A round's cost per image beside the model's forward pass on the same images.

Writes the sample dataset at street-camera size (default 1024×2048, its
object-level regions given), starts a session and runs one round of A²LC
with the simulated annotator, timing each step of the round as the
session reports it. Then, in the same process, it times per image: the
network's forward pass alone (the downscaled input through the network,
as a round runs it: on one thread), the region summaries as a round makes
them (the network's output resized pixel by pixel as the regions are
summed), and beside them the way before: the model's whole output at
image size (``Segmenter.predict``: probabilities and decoder features),
then the summaries from it; reading the image, labels, regions and ground
truth; and the round's per-image work (inference and summaries) in this
process and on one worker process per core. Prints Markdown tables.

    python benchmarks/round_overhead.py --images 8 --out runs/round_overhead
"""
from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Generator
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from a2lc_napari.engine import acquisition as acq
from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.inference import load_model, summarize_dataset
from a2lc_napari.engine.io import read_label
from a2lc_napari.engine.model import one_thread
from a2lc_napari.engine.parallel import cpu_count, executor
from a2lc_napari.engine.progress import Progress
from a2lc_napari.engine.driver import start_session

TRAINING = "Training model"


def timed_steps(steps: Generator, times: dict[str, float]):
    """Drive a step generator, adding the seconds spent before each
    Progress to ``times[its desc]`` (and those after the last to the last
    one's); returns the generator's result."""
    start, desc = time.perf_counter(), None
    while True:
        try:
            p = next(steps)
        except StopIteration as stop:  # the work after the last step: the last step's
            if desc is not None:
                times[desc] += time.perf_counter() - start
            return stop.value
        now = time.perf_counter()
        if isinstance(p, Progress):
            desc = p.desc
            times[desc] = times.get(desc, 0.0) + now - start
        start = now


def best(func, repeat: int = 2) -> float:
    """The fastest of ``repeat`` runs of ``func()`` (s)."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return min(out)


def forward(segmenter, image: np.ndarray) -> torch.Tensor:
    """The network alone on the image, downscaled as a round feeds it."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    scale = min(1.0, segmenter.config.max_side / max(image.shape[:2]))
    if scale < 1:
        x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True)
    with torch.no_grad(), one_thread():
        return segmenter.net.head(segmenter.net.features(x))


def step_times(ds, model, label_path, name: str) -> dict[str, float]:
    """Seconds of each per-image step of a round on image ``name``, alone."""
    image = ds.image(name)
    forward(model, image)  # warm

    def read():
        return ds.image(name), read_label(label_path(name)), ds.regions(name), ds.gt(name)

    _, labels, regions, gt = read()
    probs, feats = model.predict(image, features=True)
    summarize = partial(acq.summarize_image, labels=labels, regions=regions,
                        ignore_index=ds.classes.ignore_index, gt=gt, representative=False,
                        image=image)
    return {"forward": best(partial(forward, model, image)),
            "resized": best(lambda: summarize(model.output(image))),
            "predict": best(partial(model.predict, image, features=True)),
            "full-size": best(partial(summarize, probs, features=feats)),
            "read": best(read)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/round_overhead"))
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 2048], metavar=("H", "W"))
    parser.add_argument("--steps", type=int, default=150, help="training steps")
    args = parser.parse_args()

    h, w = args.size
    data = args.out / f"demo_{args.images}_{h}x{w}"
    if not (data / "classes.json").exists():
        make_demo_dataset(data, n_images=args.images, size=(h, w))
    session_dir = args.out / "session"
    shutil.rmtree(session_dir, ignore_errors=True)
    config = SessionConfig(method="a2lc", budget=30)
    config.model.steps = args.steps

    times: dict[str, float] = {}
    session = timed_steps(start_session(session_dir, data, config), times)
    times.clear()
    timed_steps(session.prepare_round(), times)
    regions = len(session.summary)
    start = time.perf_counter()
    answers = {q.index: session.simulated_answer(q)[0] for q in session.queries}
    session.answer(answers)
    times["Answering (simulated)"] = time.perf_counter() - start
    timed_steps(session.finish_round(), times)
    n = args.images
    round_total = sum(times.values())
    overhead = round_total - times[TRAINING]

    ds = session.dataset
    model = load_model(session.folder.model)
    parts = dict.fromkeys(("forward", "resized", "predict", "full-size", "read"), 0.0)
    for name in ds.names:
        for key, seconds in step_times(ds, model, session.folder.labels, name).items():
            parts[key] += seconds

    def summaries(pool):
        return lambda: timed_steps(summarize_dataset(session.folder.model, None, ds,
                                                     session.folder.labels, False, pool), {})
    cores = cpu_count()
    one = best(summaries(None))
    start = time.perf_counter()
    with executor(cores, preload=("a2lc_napari.engine.inference",)) as pool:
        pool_life = time.perf_counter() - start
        every = best(summaries(pool))  # the first run waits for the workers' imports
        start = time.perf_counter()
    pool_life += time.perf_counter() - start
    session.close()

    fw = parts["forward"] / n
    print(f"\nOne A²LC round on {n} images of {h}×{w} ({ds.classes.num_classes} classes, "
          f"{regions} regions), "
          f"{cores} cores, per image:\n")
    print("| step of the round | s per image | ÷ forward pass |")
    print("|---|---|---|")
    for desc, seconds in times.items():
        print(f"| {desc} | {seconds / n:.3f} | {seconds / n / fw:.1f}× |")
    print(f"| **everything but training** | **{overhead / n:.3f}** | "
          f"**{overhead / n / fw:.1f}×** |")
    print("\nThe same images, each step alone (best of 2):\n")
    print("| per image | s | ÷ forward pass |")
    print("|---|---|---|")
    for label, key in (("forward pass alone (network on the downscaled image)", "forward"),
                       ("forward pass and region summaries, the output resized pixel by "
                        "pixel (a round's way)", "resized"),
                       ("before: model output at image size (probabilities + features)",
                        "predict"),
                       ("before: region summaries from that output", "full-size"),
                       ("reading image, labels, regions, ground truth", "read")):
        print(f"| {label} | {parts[key] / n:.3f} | {parts[key] / n / fw:.1f}× |")
    print(f"\nInference and summaries of all {n} images: {one:.1f} s in this process, "
          f"{every:.1f} s on {cores} worker processes ({one / every:.2f}×; starting and "
          f"stopping the workers took {pool_life:.1f} s more)")


if __name__ == "__main__":
    main()
