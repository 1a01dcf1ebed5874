"""A kill -9 at any moment of ``a2lc simulate`` loses nothing: the same
command then ends with the labels and metrics of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.io import read_label


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", n_images=4,
                             size=(48, 64), seed=5)


def command(dataset, out):
    return [sys.executable, "-m", "a2lc_napari.cli", "simulate", str(dataset), "--method",
            "a2lc", "--rounds", "2", "--budget", "4", "--steps", "6", "--out", str(out), "-q"]


def outcome(out):
    metrics = json.loads((out / "metrics.json").read_text())
    labels = {p.name: read_label(p) for p in sorted((out / "labels").iterdir())}
    return metrics, labels


def test_a_kill_at_any_moment_then_the_same_command_gives_the_same_result(tiny_demo,
                                                                          tmp_path):
    start = time.monotonic()
    subprocess.run(command(tiny_demo, tmp_path / "ref"), check=True, capture_output=True)
    took = time.monotonic() - start
    ref_metrics, ref_labels = outcome(tmp_path / "ref")
    for k, share in enumerate((0.45, 0.65, 0.85)):
        out = tmp_path / f"killed_{k}"
        run = subprocess.Popen(command(tiny_demo, out), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(share * took)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        subprocess.run(command(tiny_demo, out), check=True, capture_output=True)
        metrics, labels = outcome(out)
        assert metrics == ref_metrics, f"killed after {share:.0%} of a run"
        assert labels.keys() == ref_labels.keys()
        for name in labels:
            np.testing.assert_array_equal(labels[name], ref_labels[name], err_msg=name)
