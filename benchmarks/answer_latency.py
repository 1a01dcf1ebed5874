"""How long the canvas waits in a whole napari session, at Cityscapes size.

Writes a synthetic dataset of 1024×2048 images (blocky labels, 2048
regions each), opens napari with the correction widget docked (through the
plugin, as the Plugins menu does), and runs a session as a person would:
the widget opened, Start / resume, answers with the Enter key, the end of the round (LCM,
training, ranking), then napari closed and a new viewer resuming the session,
three brush strokes and a few more answers; last, for scale, napari alone
adding a labels layer to a new viewer. Measures, in the same run:

- key → next query drawn: from the Enter key to the first canvas draw
  after the next query is shown, split by whether that query is on the same
  image or another one;
- one labels-layer update, for scale: ``layer.data = labels`` of the shown
  image, to the canvas draw that follows;
- main-thread stalls: a 20 ms QTimer runs over the whole session; each
  tick's gap beyond 20 ms is time the event loop could not run;
- resume from a fresh process, as a person starts it: a new Python
  process that imports napari, opens the widget and presses Start /
  resume at once, from its launch to the query drawn (and from the Start
  click), beside the resume in a new viewer of the same process.

Needs a display: ``xvfb-run -a -s "-screen 0 1920x1080x24" python
benchmarks/answer_latency.py``. Timings depend on the machine's load: run it
alone.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from a2lc_napari.engine import io
from a2lc_napari.engine.classes import CITYSCAPES_CLASSES

H, W = 1024, 2048
WIDGET = "A²LC label correction"
PERIOD_MS = 20


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


class StallMeter:
    """A QTimer every :data:`PERIOD_MS`; the gaps between its ticks."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.gaps: list[float] = []
        self.phases: list[str] = []
        self.phase = ""  # what the session is doing, to tell where stalls happen
        self.timer = QTimer(interval=PERIOD_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.phases.append(self.phase)
        self.last = now


class StallStacks:
    """Where the main thread is while it stalls: a thread that samples its
    stack every 50 ms once the meter's timer is over 250 ms late."""

    def __init__(self, meter: StallMeter):
        import threading

        self.meter, self.seen = meter, Counter()
        self.main = threading.main_thread().ident
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.05)
            if time.perf_counter() - self.meter.last > 0.25:
                frame = sys._current_frames().get(self.main)
                if frame is None:  # the interpreter is exiting
                    return
                frames = traceback.extract_stack(frame)
                ours = [f for f in frames if "a2lc_napari" in f.filename]
                where = ours[-1] if ours else frames[-1]
                self.seen[f"{Path(where.filename).name}:{where.lineno} {where.name} "
                          f"(in {Path(frames[-1].filename).name}:{frames[-1].name})"] += 1


class Viewer:
    """A napari viewer with the widget docked, and the time of its last draw."""

    def __init__(self):
        import napari

        self.viewer = napari.Viewer()
        self.viewer.window.resize(1600, 1000)
        _, self.widget = self.viewer.window.add_plugin_dock_widget("a2lc-napari", WIDGET)
        self.drawn = self.shown = 0.0
        # napari has no public draw event: its canvas's (vispy's) is the one.
        self.viewer.window._qt_viewer.canvas.events.draw.connect(self._drawn)
        self.widget.query_shown.connect(self._shown)

    def _drawn(self, _event) -> None:
        self.drawn = time.perf_counter()

    def _shown(self, _index) -> None:
        self.shown = time.perf_counter()


def wait(app, ready, timeout: float = 1800.0) -> None:
    end = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > end:
            raise TimeoutError("the widget never got ready")
        app.processEvents()
        time.sleep(0.002)


def pause(app, seconds: float) -> None:
    """A person looking at the query before the next key."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def start(app, v: Viewer, dataset: Path, session_dir: Path, budget: int, method: str) -> None:
    from qtpy.QtWidgets import QPushButton

    s = v.widget.settings
    s.dataset.value, s.session_dir.value = dataset, session_dir
    s.budget.value, s.steps.value, s.method.value = budget, 2, method
    s.review_above.value = 100000  # apply the LCM without asking
    t = time.perf_counter()
    next(b for b in v.widget.findChildren(QPushButton) if b.text() == "Start / resume").click()
    wait(app, lambda: v.shown > t and v.drawn > v.shown)


def answer(app, v: Viewer, keys: dict, reference: list, think: float) -> None:
    """One Enter key, timed to the draw of the next query; then, after a
    pause, one labels-layer update timed the same way."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    w = v.widget
    image, round_ = w.image_name, w.session.round
    t = time.perf_counter()
    QTest.keyClick(w.panel.class_list, Qt.Key_Return)
    wait(app, lambda: v.shown > t and v.drawn > v.shown)
    if w.session.round == round_:
        keys["same image" if w.image_name == image else "another image"].append(
            v.drawn - t)
    pause(app, think)
    layer = w.labels_layer
    t = time.perf_counter()
    layer.data = layer.data.copy()
    wait(app, lambda: v.drawn > t)
    reference.append(v.drawn - t)
    pause(app, think)


def resume_in_new_process(dataset: Path, session_dir: Path) -> dict:
    """Resume the session in a fresh Python process; seconds from its launch
    to the query drawn, and from the Start click."""
    import json
    import subprocess

    launched = time.time()
    done = subprocess.run([sys.executable, __file__, "--resume-only", str(dataset),
                           str(session_dir)], capture_output=True, text=True, check=True)
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {"launch → query drawn": times["drawn"] - launched,
            "Start → query drawn": times["drawn"] - times["clicked"]}


def resume_only(dataset: Path, session_dir: Path) -> None:
    """The child of :func:`resume_in_new_process`: prints the wall-clock
    times of the Start click and of the query drawn."""
    import json

    from qtpy.QtWidgets import QApplication

    v = Viewer()
    app = QApplication.instance()
    clicked = time.time()
    start(app, v, dataset, session_dir, 30, "a2lc")  # (a resumed session keeps its own)
    drawn = time.time() - (time.perf_counter() - v.drawn)
    wait(app, lambda: v.widget.runner.idle)
    v.viewer.close()
    print(json.dumps({"clicked": clicked, "drawn": drawn}))


def main() -> None:
    if sys.argv[1:2] == ["--resume-only"]:
        resume_only(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/answer_latency"))
    parser.add_argument("--images", type=int, default=8,
                        help="images (more images: more answers move to another one)")
    parser.add_argument("--budget", type=int, default=30, help="queries per round")
    parser.add_argument("--after", type=int, default=10, help="answers after resume")
    parser.add_argument("--method", default="a2lc",
                        help="a2lc and lcm run the LCM in the background; alc, abc do not")
    parser.add_argument("--stacks", action="store_true",
                        help="print where the main thread stalls (sampled)")
    parser.add_argument("--think", type=float, default=0.3,
                        help="seconds between a drawn query and the next key")
    args = parser.parse_args()

    from qtpy.QtWidgets import QApplication

    dataset = make_dataset(args.out / "data", args.images)
    session_dir = args.out / f"session_{time.time_ns()}"
    v = Viewer()
    app = QApplication.instance()
    meter = StallMeter()
    meter.phase = "opening the widget"  # its first painting, the engine loading
    meter.start()
    stacks = StallStacks(meter) if args.stacks else None
    pause(app, 2.0)  # a person choosing the folders
    meter.phase = "start"
    steps = {}
    keys = {"same image": [], "another image": []}
    reference: list[float] = []
    t = time.perf_counter()
    start(app, v, dataset, session_dir, args.budget, args.method)
    steps["Start → first query drawn"] = time.perf_counter() - t
    wait(app, lambda: v.widget.runner.idle)  # what Start set going in the background
    meter.phase = "answers"
    for i in range(args.budget):  # the last answer ends round 1; round 2's first query
        if i == args.budget - 1:
            meter.phase = "finishing round 1, preparing round 2"
        answer(app, v, keys, reference, args.think)
    wait(app, lambda: v.widget.runner.idle)
    meter.phase = "napari closing and opening its window"  # napari's own, told apart
    v.viewer.close()
    v = Viewer()  # closed mid-round 2, reopened
    pause(app, 0.1)  # a tick ends the phase
    meter.phase = "resume"
    t = time.perf_counter()
    start(app, v, dataset, session_dir, args.budget, args.method)
    steps["resume → query drawn"] = time.perf_counter() - t
    wait(app, lambda: v.widget.runner.idle)
    meter.phase = "paint strokes"
    layer = v.widget.labels_layer
    layer.brush_size = 40
    for k in range(3):  # what a brush click does; saved as a hand edit
        layer.paint((200 + 100 * k, 300), 5)
        pause(app, 1.0)
    meter.phase = "answers after resume"
    for _ in range(args.after):
        answer(app, v, keys, reference, args.think)
    wait(app, lambda: v.widget.runner.idle)
    v.viewer.close()
    meter.timer.stop()  # the other process has the machine meanwhile
    for what, seconds in resume_in_new_process(dataset, session_dir).items():
        steps[f"resume in a new process: {what}"] = seconds
    meter.start()
    # For scale, what napari alone costs: a labels layer added to a new
    # viewer (as the widget's are on resume), no plugin.
    import napari

    meter.phase = "napari closing and opening its window"
    alone = napari.Viewer()
    pause(app, 1.0)
    meter.phase = "napari alone: one labels layer added to a new viewer"
    alone.add_labels(np.zeros((1, 1), np.uint8))
    pause(app, 1.0)
    meter.timer.stop()
    alone.close()

    ref_ms = 1000 * float(np.median(reference))
    print(f"at {H}×{W}, {args.images} images; one labels-layer update: median "
          f"{ref_ms:.0f} ms of {len(reference)}")
    print("| key → next query drawn | answers | median ms | p90 ms | max ms | "
          "median ÷ labels-layer update |")
    print("|---|---|---|---|---|---|")
    for what, times in keys.items():
        if times:
            ms = 1000 * np.asarray(times)
            print(f"| {what} | {len(ms)} | {np.median(ms):.0f} | {np.percentile(ms, 90):.0f} "
                  f"| {ms.max():.0f} | {np.median(ms) / ref_ms:.1f}× |")
    stalls = 1000 * np.asarray(meter.gaps) - PERIOD_MS
    print(f"main thread over the whole session ({len(stalls)} ticks of a {PERIOD_MS} ms "
          f"timer): stall p95 {np.percentile(stalls, 95):.0f} ms, max {stalls.max():.0f} ms; "
          f"stalls > 250 ms: {int((stalls > 250).sum())}")
    phases = np.asarray(meter.phases)
    for phase in dict.fromkeys(meter.phases):
        here = stalls[phases == phase]
        print(f"  while {phase}: max stall {here.max():.0f} ms, "
              f"{int((here > 250).sum())} over 250 ms")
    if stacks is not None:
        for where, n in stacks.seen.most_common(12):
            print(f"  stalled {50 * n} ms at {where}")
    for what, seconds in steps.items():
        print(f"{what}: {seconds:.1f} s")
    io.write_json(args.out / "answer_latency.json", {
        "reference_ms": reference and [1000 * r for r in reference],
        "keys_ms": {k: [1000 * t for t in v_] for k, v_ in keys.items()},
        "stalls_ms": stalls.tolist(), "steps_s": steps})


if __name__ == "__main__":
    main()
