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


@pytest.fixture(scope="module")
def reference(tiny_demo, tmp_path_factory):
    """The metrics and labels of an uninterrupted run, and how long it took."""
    out = tmp_path_factory.mktemp("ref") / "ref"
    start = time.monotonic()
    subprocess.run(command(tiny_demo, out), check=True, capture_output=True)
    return (*outcome(out), time.monotonic() - start)


def outcome(out):
    metrics = json.loads((out / "metrics.json").read_text())
    labels = {p.name: read_label(p) for p in sorted((out / "labels").iterdir())}
    return metrics, labels


def test_a_kill_at_any_moment_then_the_same_command_gives_the_same_result(tiny_demo, reference,
                                                                          tmp_path):
    ref_metrics, ref_labels, took = reference
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


# Runs the command in a process that dies (os._exit, as a kill would) right
# after writing its Nth label file, before that file replaces the old one.
DIES_WRITING_A_LABEL = """
import os, sys
from PIL import Image
from a2lc_napari import cli
save, written = Image.Image.save, []
def dying_save(image, fp, *args, **kwargs):
    save(image, fp, *args, **kwargs)
    if os.path.basename(os.path.dirname(fp)) == "labels":
        written.append(fp)
        if len(written) == int(sys.argv[1]):
            os._exit(9)
Image.Image.save = dying_save
cli.main(sys.argv[2:])
"""


def test_a_kill_while_a_label_is_written_leaves_no_stray_file(tiny_demo, reference,
                                                              tmp_path):
    ref_metrics, ref_labels, _ = reference
    out = tmp_path / "killed"
    # the 6th label written: past the pseudo-labels' copies, within round 1
    killed = subprocess.run([sys.executable, "-c", DIES_WRITING_A_LABEL, "6",
                             *command(tiny_demo, out)[3:]], capture_output=True)
    assert killed.returncode == 9, killed.stderr.decode()
    assert len(list((out / "labels").iterdir())) > len(ref_labels)  # the unfinished file
    subprocess.run(command(tiny_demo, out), check=True, capture_output=True)
    metrics, labels = outcome(out)
    assert metrics == ref_metrics
    assert sorted(p.name for p in (out / "labels").iterdir()) == sorted(ref_labels)
