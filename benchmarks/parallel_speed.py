"""Region making on one process against one worker process per core.

Writes a synthetic dataset of street-scene-sized images (default 1024×2048,
smooth colours, blocky pseudo-labels) and makes their SLIC regions (cut
along the pseudo-labels, as ``--regions slic`` does) twice in one run: in
this process (``--workers 1``) and on a pool of one worker per core
(``--workers`` N, the default), the pool's start-up included; the two in
turn ``--repeat`` times, the fastest of each kept (a shared machine's other
work weighs on both alike). Checks that both made the same maps and prints
a Markdown table with the speed-up.

Then it summarizes the same images the way a round does (the network's
output at its own size, resized pixel by pixel, and the colour pass; the
output here is random, which costs the pass the same) on one of numba's
threads and on all of them, checks that the summaries are the same, and
prints their speed-up too.

    python benchmarks/parallel_speed.py --out runs/parallel --images 8
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numba
import numpy as np
from PIL import Image
from scipy.ndimage import zoom


from a2lc_napari.engine.classes import CITYSCAPES_CLASSES
from a2lc_napari.engine.config import ModelConfig
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.model import network_size
from a2lc_napari.engine.network_output import NetworkOutput
from a2lc_napari.engine.parallel import cpu_count, executor
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_cache import make_region_cache
from a2lc_napari.engine.region_summary import summarize_image
from a2lc_napari.engine.regions import RegionsConfig


def write_dataset(folder: Path, n: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "classes.json").write_text(json.dumps(CITYSCAPES_CLASSES.to_json()))
    h, w = shape
    for i in range(n):
        coarse = rng.integers(0, 256, (h // 64, w // 64, 3)).astype(float)
        image = np.clip(zoom(coarse, (64, 64, 1), order=1), 0, 255).astype(np.uint8)
        labels = zoom(rng.integers(0, 19, (h // 128, w // 128)), 128, order=0).astype(np.uint8)
        Image.fromarray(image).save(folder / "images" / f"img_{i:03d}.png")
        Image.fromarray(labels).save(folder / "labels" / f"img_{i:03d}.png")


def timed_regions(dataset_folder: Path, cache: Path, workers: int) -> float:
    shutil.rmtree(cache, ignore_errors=True)
    dataset = open_dataset(dataset_folder)
    dataset.use_regions(RegionsConfig("slic"))
    start = time.perf_counter()
    with executor(workers) as pool:
        drive(make_region_cache(dataset, cache, pool), quiet=True)
    return time.perf_counter() - start


def round_inputs(dataset_folder: Path, regions: Path) -> list[tuple]:
    """Per image, what a round's summary pass reads: a random network output
    at the network's size (K logits, 16 feature channels), the labels, the
    region map, the image and the ignore value."""
    dataset = open_dataset(dataset_folder)
    k = dataset.classes.num_classes
    rng = np.random.default_rng(0)
    inputs = []
    for name in dataset.names:
        labels = dataset.labels(name)
        h, w = network_size(labels.shape, ModelConfig.max_side)
        output = NetworkOutput(rng.standard_normal((k, h, w), dtype=np.float32),
                               rng.standard_normal((16, h, w), dtype=np.float32))
        inputs.append((output, labels, np.load(regions / f"{name}.npy"), dataset.image(name),
                       dataset.classes.ignore_index))
    return inputs


def timed_summaries(inputs: list[tuple], threads: int) -> tuple[float, list]:
    """Seconds to summarize every image of ``inputs`` on ``threads`` of
    numba's threads, and the summaries."""
    numba.set_num_threads(threads)
    start = time.perf_counter()
    summaries = [summarize_image(output, labels, regions, ignore, image=image,
                                 representative=False)
                 for output, labels, regions, image, ignore in inputs]
    return time.perf_counter() - start, summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/parallel"))
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=2, default=[1024, 2048])
    parser.add_argument("--workers", type=int, default=cpu_count())
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    data = args.out / f"slic_{args.images}_{args.shape[0]}x{args.shape[1]}"
    if not (data / "classes.json").exists():
        write_dataset(data, args.images, tuple(args.shape))
    runs = [(timed_regions(data, args.out / "regions_1", 1),
             timed_regions(data, args.out / "regions_n", args.workers))
            for _ in range(args.repeat)]
    one, many = (min(r[i] for r in runs) for i in range(2))
    for made in sorted((args.out / "regions_1").glob("*.npy")):
        np.testing.assert_array_equal(np.load(made), np.load(args.out / "regions_n" / made.name))

    print(f"\nSLIC regions of {args.images} images of {args.shape[0]}×{args.shape[1]}, "
          f"{cpu_count()} cores; the same maps both ways\n")
    print(f"| images | 1 process (s) | {args.workers} workers (s) | speed-up |")
    print("|---|---|---|---|")
    print(f"| {args.images} | {one:.1f} | {many:.1f} | {one / many:.2f}× |")

    inputs = round_inputs(data, args.out / "regions_1")
    threads = numba.config.NUMBA_NUM_THREADS
    timed_summaries(inputs[:1], threads)  # compiled (or loaded from numba's cache) first
    runs = [(timed_summaries(inputs, 1), timed_summaries(inputs, threads))
            for _ in range(args.repeat)]
    for a, b in zip(runs[0][0][1], runs[0][1][1]):
        for field in ("size", "label_hist", "abc_parts", "mean_prob", "appearance", "layout"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    one, many = (min(r[i][0] for r in runs) for i in range(2))
    print("\nRegion summaries of the same images, a round's way, on numba's threads; "
          "the same summaries both ways\n")
    print(f"| images | 1 thread (s) | {threads} threads (s) | speed-up |")
    print("|---|---|---|---|")
    print(f"| {args.images} | {one:.2f} | {many:.2f} | {one / many:.2f}× |")


if __name__ == "__main__":
    main()
