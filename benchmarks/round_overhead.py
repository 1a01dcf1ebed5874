"""A round's cost per image beside the model's forward pass on the same images.

Writes the sample dataset at street-camera size (default 1024×2048, its
object-level regions given), starts a session and runs two rounds of A²LC
with the simulated annotator, timing each step of each round as the
session reports it (Start keeps each image's downscaled copy and its
regions' look, :mod:`~a2lc_napari.engine.image_cache`; the rounds read
them back). Then,
in the same process, it times per image: the network's forward pass alone
(on the downscaled image, on one thread, as a round runs it), the region
summaries as a round makes them (the network's output resized pixel by
pixel as the regions are summed), the same from the full-size image (as
every round did before the images were kept), and beside them the way
before that: the model's whole output at image size
(``Segmenter.predict``: probabilities and decoder features), then the
summaries from it; reading what a round reads; and a round's per-image
work (inference and summaries) in this process and on one worker process
per core. Prints Markdown tables.

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


from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.image_cache import ImageCache
from a2lc_napari.engine.inference import load_model, summarize_dataset
from a2lc_napari.engine.io import read_label
from a2lc_napari.engine.model import network_image, one_thread
from a2lc_napari.engine.parallel import cpu_count, executor
from a2lc_napari.engine.progress import Progress
from a2lc_napari.engine.driver import start_session
from a2lc_napari.engine.region_summary import summarize_image

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
    """The network alone on ``image``, already at the network's size."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    with torch.no_grad(), one_thread():
        return segmenter.net.head(segmenter.net.features(x))


def step_times(ds, model, images: ImageCache, label_path, name: str) -> dict[str, float]:
    """Seconds of each per-image step of a round on image ``name``, alone."""
    def read():  # what a round after the first reads
        regions = ds.regions(name)
        return (*images.for_round(ds, name, regions), read_label(label_path(name)), regions,
                ds.gt(name))

    small, look, labels, regions, gt = read()
    image = ds.image(name)
    forward(model, small)  # warm
    probs, feats = model.predict(image, features=True)
    summarize = partial(summarize_image, labels=labels, regions=regions,
                        ignore_index=ds.classes.ignore_index, gt=gt, representative=False)
    return {"forward": best(partial(forward, model, small)),
            "resized": best(lambda: summarize(model.output(small), look=look)),
            "first": best(lambda: summarize(model.output(network_image(ds.image(name),
                                                                       model.config.max_side)),
                                            image=ds.image(name))),
            "predict": best(partial(model.predict, image, features=True)),
            "full-size": best(partial(summarize, probs, features=feats, image=image)),
            "read": best(read)}


def timed_round(session) -> tuple[dict[str, float], int]:
    """Seconds of each step of one round, the simulated annotator
    answering, and the number of regions."""
    times: dict[str, float] = {}
    timed_steps(session.prepare_round(), times)
    regions = len(session.summary)
    start = time.perf_counter()
    answers = {q.index: session.simulated_answer(q)[0] for q in session.queries}
    session.answer(answers)
    times["Answering (simulated)"] = time.perf_counter() - start
    timed_steps(session.finish_round(), times)
    return times, regions


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

    session = timed_steps(start_session(session_dir, data, config), {})
    (first, regions), (later, _) = timed_round(session), timed_round(session)
    rounds = [first, later]
    n = args.images

    ds = session.dataset
    model = load_model(session.folder.model)
    images = ImageCache(session.folder.images_dir, config.model.max_side)
    parts = dict.fromkeys(("forward", "resized", "first", "predict", "full-size", "read"), 0.0)
    for name in ds.names:
        for key, seconds in step_times(ds, model, images, session.folder.labels, name).items():
            parts[key] += seconds

    def summaries(pool):
        return lambda: timed_steps(summarize_dataset(session.folder.model, None, ds, images,
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
    print(f"\nTwo A²LC rounds on {n} images of {h}×{w} ({ds.classes.num_classes} classes, "
          f"{regions} regions), "
          f"{cores} cores, per image:\n")
    print("| step of the round | round 1: s per image | ÷ forward pass "
          "| round 2: s per image | ÷ forward pass |")
    print("|---|---|---|---|---|")
    for desc in rounds[0]:
        cells = " | ".join(f"{r.get(desc, 0) / n:.3f} | {r.get(desc, 0) / n / fw:.1f}×"
                           for r in rounds)
        print(f"| {desc} | {cells} |")
    cells = " | ".join(f"**{(sum(r.values()) - r[TRAINING]) / n:.3f}** | "
                       f"**{(sum(r.values()) - r[TRAINING]) / n / fw:.1f}×**" for r in rounds)
    print(f"| **everything but training** | {cells} |")
    print("\nThe same images, each step alone (best of 2):\n")
    print("| per image | s | ÷ forward pass |")
    print("|---|---|---|")
    for label, key in (("forward pass alone (network on the downscaled image)", "forward"),
                       ("forward pass and region summaries, the output resized pixel by "
                        "pixel (a round's way)", "resized"),
                       ("the same from the full-size image: decoded, downscaled, its "
                        "regions' look made (every round, before they were kept)", "first"),
                       ("before: model output at image size (probabilities + features)",
                        "predict"),
                       ("before: region summaries from that output", "full-size"),
                       ("reading the kept image and look, labels, regions, ground truth",
                        "read")):
        print(f"| {label} | {parts[key] / n:.3f} | {parts[key] / n / fw:.1f}× |")
    print(f"\nInference and summaries of all {n} images: {one:.1f} s in this process, "
          f"{every:.1f} s on {cores} worker processes ({one / every:.2f}×; starting and "
          f"stopping the workers took {pool_life:.1f} s more)")


if __name__ == "__main__":
    main()
