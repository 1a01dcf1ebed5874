"""How long a person waits, and how much memory a session takes, as the
dataset grows.

For each number of images, writes the sample dataset (object-level
regions given) at the chosen size and, in a fresh process, starts an A²LC
session (checking the dataset, copying the labels), prepares round 1
(training, inference, region summaries, queries: Start → first query),
answers its queries with the simulated annotator, then finishes round 1
(LCM, metrics) and prepares round 2 (round → next query). It reports those
times, the per-image slope between the sizes, and the process's peak
memory; in one process and on one worker process per core (``--workers``).
Prints a Markdown table.

    python benchmarks/session_scale.py --images 30 100 300 --size 256 512
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.parallel import cpu_count

CHILD = """
import json, sys, time
from pathlib import Path
from a2lc_napari.engine.config import SessionConfig
from a2lc_napari.engine.parallel import executor
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.driver import start_session
data, out, workers, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
config = SessionConfig(method="a2lc", budget=40)
config.model.steps = steps
t0 = time.perf_counter()
with executor(workers, preload=("a2lc_napari.engine.inference",)) as pool:
    session = drive(start_session(out, data, config, executor=pool), quiet=True)
    drive(session.prepare_round(pool), quiet=True)
    t1 = time.perf_counter()
    session.answer({q.index: session.simulated_answer(q)[0] for q in session.queries})
    t2 = time.perf_counter()
    drive(session.finish_round(), quiet=True)
    drive(session.prepare_round(pool), quiet=True)
    t3 = time.perf_counter()
    session.close()
# VmHWM: this process's own peak (workers not counted)
status = Path("/proc/self/status").read_text()
peak_kb = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM")))
print(json.dumps({"first": t1 - t0, "next": t3 - t2, "peak_mb": peak_kb / 1024}))
"""


def measure(data: Path, out: Path, workers: int, steps: int) -> dict:
    """One session's timings in a fresh process."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run = subprocess.run([sys.executable, "-c", CHILD, str(data), str(out), str(workers),
                          str(steps)], capture_output=True, text=True, env=os.environ)
    if run.returncode:
        sys.exit(f"the session on {data} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/session_scale"))
    parser.add_argument("--images", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 2048], metavar=("H", "W"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, cpu_count()])
    parser.add_argument("--steps", type=int, default=150, help="training steps per round")
    args = parser.parse_args()

    h, w = args.size
    data = args.out / f"demo_{h}x{w}"
    # one dataset of the most images; the smaller ones are its first images
    if len(list((data / "images").glob("*.png"))) < max(args.images):
        make_demo_dataset(data, n_images=max(args.images), size=(h, w))
    rows = []
    for n in args.images:
        subset = args.out / f"demo_{h}x{w}_{n}"
        for sub, ext in (("images", "png"), ("labels", "png"), ("gt", "png"),
                         ("regions", "npy")):
            (subset / sub).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                link = subset / sub / f"demo_{i:03d}.{ext}"
                if not link.exists():
                    link.symlink_to((data / sub / link.name).resolve())
        (subset / "classes.json").write_text((data / "classes.json").read_text())
        for workers in args.workers:
            session = args.out / f"session_{n}_{workers}"
            subprocess.run(["rm", "-rf", str(session)], check=True)
            rows.append((n, workers, measure(subset, session, workers, args.steps)))
            print(rows[-1], flush=True)

    print(f"\nA²LC session, {h}×{w} images, 40 queries a round, {args.steps} training "
          f"steps, {cpu_count()} cores\n")
    print("| images | workers | Start → first query (s) | round → next query (s) | "
          "peak memory (MB) | peak ÷ fewest images' |")
    print("|---|---|---|---|---|---|")
    for n, workers, r in rows:
        base = next(b for m, wk, b in rows if wk == workers)
        print(f"| {n} | {workers} | {r['first']:.1f} | {r['next']:.1f} | {r['peak_mb']:.0f} "
              f"| {r['peak_mb'] / base['peak_mb']:.2f}× |")
    for workers in args.workers:
        ends = [(n, r) for n, wk, r in rows if wk == workers]
        if len(ends) > 1:
            (n0, a), (n1, b) = ends[0], ends[-1]
            print(f"\n{workers} worker(s), per extra image: Start → first query "
                  f"{(b['first'] - a['first']) / (n1 - n0):.3f} s, round → next query "
                  f"{(b['next'] - a['next']) / (n1 - n0):.3f} s")


if __name__ == "__main__":
    main()
