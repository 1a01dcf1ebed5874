"""How long the canvas waits after each answer key, at Cityscapes size.

Writes a synthetic dataset of 1024×2048 images (blocky labels, ~1000
regions each), opens napari with the correction widget, and answers queries
one after another, as a person would with the keyboard. Measures, in one run:

- the engine's part of an answer (``Session.answer``: labels read, region
  painted, palette PNG written, session saved),
- the whole answer in the widget (the above, the labels-layer edit, and
  showing the next query),
- switching to the other image (image, labels, regions, outlines),
- the bare cost of reading and writing one label PNG, for scale.

Needs a display (napari): ``xvfb-run -a python benchmarks/answer_latency.py``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import CITYSCAPES_CLASSES

H, W = 1024, 2048


def make_dataset(root: Path, n_images: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n_images):
        name = f"city_{i}"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(
            root / "images" / f"{name}.png")
        labels = (np.arange(W)[None, :] // 160 + i) % CITYSCAPES_CLASSES.num_classes
        io.write_label(root / "labels" / f"{name}.png",
                       np.broadcast_to(labels, (H, W)).astype(np.uint8), CITYSCAPES_CLASSES)
        regions = np.arange(H)[:, None] // 64 * 64 + np.arange(W)[None, :] // 32 + 1
        io.write_npy(root / "regions" / f"{name}.npy", regions.astype(np.int32))
    io.write_json(root / "classes.json", CITYSCAPES_CLASSES.to_json())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/answer_latency"))
    parser.add_argument("--answers", type=int, default=12)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from a2lc_napari._widget import CorrectionWidget

    dataset = make_dataset(args.out / "data", n_images=2)
    viewer = napari.Viewer(show=False)
    widget = CorrectionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    s = widget.settings
    s.dataset.value, s.session_dir.value = dataset, args.out / f"session_{time.time_ns()}"
    s.budget.value, s.steps.value = args.answers + 1, 2
    app = QApplication.instance()
    widget.start()
    while widget.session is None or widget.query_index is None or widget._worker is not None:
        app.processEvents()
        time.sleep(0.01)
    session = widget.session
    engine, answer, switch = [], [], []
    original = session.answer

    def timed_answer(answers):
        t = time.perf_counter()
        original(answers)
        engine.append(time.perf_counter() - t)

    session.answer = timed_answer
    for _ in range(args.answers):
        q = session.queries[widget.query_index]
        t = time.perf_counter()
        widget.show_image(next(n for n in session.dataset.names if n != q.image))
        app.processEvents()
        switch.append(time.perf_counter() - t)
        widget.show_query(q.index)
        t = time.perf_counter()
        widget.answer(3)
        app.processEvents()
        answer.append(time.perf_counter() - t)
    while widget._lcm_worker is not None:
        app.processEvents()
        time.sleep(0.01)

    first = session.out / "labels" / f"{session.dataset.names[0]}.png"
    t = time.perf_counter()
    for _ in range(5):
        io.write_label(args.out / "io.png", io.read_label(first), CITYSCAPES_CLASSES)
    bare = (time.perf_counter() - t) / 5

    bare_ms = 1000 * bare
    print(f"| at {H}×{W}, median of {args.answers} | ms | ratio to one label PNG read + write |")
    print("|---|---|---|")
    for what, times in (("read + write one label PNG", [bare]),
                        ("Session.answer (engine)", engine),
                        ("answer key to next query shown (widget)", answer),
                        ("switching to another image (widget)", switch)):
        ms = 1000 * float(np.median(times))
        print(f"| {what} | {ms:.0f} | {ms / bare_ms:.1f}× |")
    viewer.close()


if __name__ == "__main__":
    main()
