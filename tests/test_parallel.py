"""Per-image work spread over worker processes and a Dask cluster gives
exactly the regions and the ranking of a run in one process."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import distributed
import numpy as np
import pytest
import torch
from conftest import tiny_sam

from a2lc_napari.cli import main
from a2lc_napari.engine import parallel
from a2lc_napari.engine import sam as sam_module
from a2lc_napari.engine.dataset import open_dataset
from a2lc_napari.engine.demo import make_demo_dataset
from a2lc_napari.engine.parallel import executor, map_ordered
from a2lc_napari.engine.progress import drive
from a2lc_napari.engine.region_cache import make_region_cache
from a2lc_napari.engine.regions import RegionsConfig
from a2lc_napari.engine.sam import SamRegions, load_sam


@pytest.fixture
def demo_probs(tmp_path):
    """A 5-image sample dataset and random softmax maps for it."""
    demo = make_demo_dataset(tmp_path / "demo", n_images=5, size=(48, 64), seed=3)
    ds = open_dataset(demo)
    rng = np.random.default_rng(0)
    probs = tmp_path / "probs"
    probs.mkdir()
    for name in ds.names:
        logits = rng.normal(0, 2, (ds.classes.num_classes, *ds.shape(name)))
        p = np.exp(logits)
        np.save(probs / f"{name}.npy", (p / p.sum(axis=0)).astype(np.float32))
    return demo, probs


def rank_with(demo, probs, out, cache, monkeypatch, method, *where):
    """``a2lc rank`` with SLIC regions made into ``cache``: its JSON text and
    the region maps it made."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert main(["rank", str(demo), "--probs", str(probs), "--method", method,
                 "--regions", "slic", "--json", str(out), "-q", *where]) == 0
    maps = {p.name: np.load(p) for p in cache.rglob("*.npy")}
    assert len(maps) == 5
    return out.read_text(), maps


@pytest.mark.parametrize("method", ["alc", "a2lc"])
def test_rank_on_worker_processes_equals_one_process(demo_probs, tmp_path, monkeypatch,
                                                     method):
    demo, probs = demo_probs
    one = rank_with(demo, probs, tmp_path / "one.json", tmp_path / "c1", monkeypatch,
                    method, "--workers", "1")
    two = rank_with(demo, probs, tmp_path / "two.json", tmp_path / "c2", monkeypatch,
                    method, "--workers", "2")
    assert one[0] == two[0]
    assert one[1].keys() == two[1].keys()
    for name in one[1]:
        np.testing.assert_array_equal(one[1][name], two[1][name])
    ranked = json.loads(one[0])
    assert len(ranked) > 5 and {e["image"] for e in ranked} == set(open_dataset(demo).names)


def test_rank_on_a_dask_cluster_equals_one_process(demo_probs, tmp_path, monkeypatch,
                                                   environ):
    demo, probs = demo_probs
    one = rank_with(demo, probs, tmp_path / "one.json", tmp_path / "c1", monkeypatch,
                    "a2lc", "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as stream:
        # Paths relative to where the command runs, which is not where the
        # workers run (found in a walk-through: they looked in their own folder).
        monkeypatch.chdir(tmp_path)
        on_cluster = rank_with(demo.relative_to(tmp_path), probs.relative_to(tmp_path),
                               tmp_path / "dask.json", tmp_path / "c2",
                               monkeypatch, "a2lc", "--scheduler", cluster.scheduler_address)
    # each image was checked, got its regions and its summary on the cluster
    assert len(stream.data) == 3 * 5
    assert on_cluster[0] == one[0]
    for name in one[1]:
        np.testing.assert_array_equal(on_cluster[1][name], one[1][name])


def test_workers_and_scheduler_exclude_each_other(demo_probs, tmp_path, capsys):
    demo, probs = demo_probs
    with pytest.raises(SystemExit):
        main(["rank", str(demo), "--probs", str(probs), "--method", "alc", "--json",
              str(tmp_path / "r.json"), "--workers", "2", "--scheduler", "tcp://x:8786"])
    assert "exclude each other" in capsys.readouterr().err


def test_a_scheduler_address_of_another_form_is_a_usage_error(demo_probs, tmp_path, capsys):
    """Found in a walk-through: each gave a Python traceback."""
    demo, probs = demo_probs
    for address, said in (("http://127.0.0.1:8787", "is a web address (the dashboard's?)"),
                          ("", "'' is not a scheduler's address"),
                          ("foo://bar", "'foo://bar' is not a scheduler's address")):
        with pytest.raises(SystemExit):
            main(["rank", str(demo), "--probs", str(probs), "--method", "alc", "--json",
                  str(tmp_path / "r.json"), "--scheduler", address])
        assert said in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_a_scheduler_that_stops_mid_run_is_one_plain_error(environ):
    """Found in a walk-through: its dropped tasks ended the run with a traceback."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with pytest.raises(ConnectionError, match=f"the Dask scheduler at "
                           f"{cluster.scheduler_address} stopped answering mid-run; what "
                           "was done is kept: rerun the same command to resume"):
            with executor(scheduler=cluster.scheduler_address) as pool:
                future = pool.submit(time.sleep, 2)
                future.cancel()  # as a scheduler's end cancels every task
                future.result()


def test_an_unreachable_scheduler_is_one_plain_error(demo_probs, tmp_path, capsys):
    demo, probs = demo_probs
    assert main(["rank", str(demo), "--probs", str(probs), "--method", "alc", "--json",
                 str(tmp_path / "r.json"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err and not (tmp_path / "r.json").exists()


def square(x):
    return x * x


def torch_threads(_):
    return torch.get_num_threads()


def test_map_ordered_keeps_order_on_one_thread_per_worker():
    with executor(2) as pool:
        assert list(map_ordered(square, range(50), pool, window=4)) == [
            x * x for x in range(50)]
        assert list(map_ordered(torch_threads, range(4), pool)) == [1] * 4
    with executor(1) as none:
        assert none is None
        assert list(map_ordered(square, range(5), none)) == [0, 1, 4, 9, 16]


LOADS = "A2LC_TEST_SAM_LOADS"


def tiny_vit_b_worker():
    """Worker start-up: vit_b builds the tiny SAM, and every checkpoint
    load writes a line to the log file named in the environment."""
    sam_module.sam_model_registry["vit_b"] = lambda: tiny_sam(width=768)
    load = sam_module.load_sam

    def logged(*args, **kwargs):
        with open(os.environ[LOADS], "a") as log:
            log.write(f"{os.getpid()}\n")
        return load(*args, **kwargs)

    sam_module.load_sam = logged


def test_sam_regions_on_workers_load_the_checkpoint_once_per_process(
        make_dataset, sam_checkpoint, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    images, labels = {}, {}
    for i in range(6):
        images[f"im{i}"] = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
        lab = np.zeros((48, 64), np.uint8)
        lab[5 + i:30, 10:40 + i] = 1
        labels[f"im{i}"] = lab
    ds = open_dataset(make_dataset(images, labels))
    ds.use_regions(RegionsConfig("sam", str(sam_checkpoint), sam_mode="boxes"))
    monkeypatch.setenv(LOADS, str(tmp_path / "loads.log"))
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"),
                             initializer=tiny_vit_b_worker) as pool:
        drive(make_region_cache(ds, tmp_path / "regions", pool), quiet=True)
    loads = (tmp_path / "loads.log").read_text().split()
    assert 1 <= len(loads) == len(set(loads)) <= 2  # once per process, not per image
    in_process = SamRegions.from_model(load_sam(sam_checkpoint), "boxes")
    for name in ds.names:
        np.testing.assert_array_equal(np.load(tmp_path / "regions" / f"{name}.npy"),
                                      in_process(images[name], labels[name], 255))


def test_a_bad_file_met_by_a_worker_is_named(demo_probs, tmp_path, capsys):
    demo, probs = demo_probs
    bad = sorted(probs.iterdir())[3]
    np.save(bad, np.zeros((2, 3, 3), np.float32))
    assert main(["rank", str(demo), "--probs", str(probs), "--method", "a2lc", "--json",
                 str(tmp_path / "r.json"), "-q", "--workers", "2"]) == 2
    assert f"{bad}: has shape (2, 3, 3)" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_a_bad_label_met_by_a_worker_while_checking_is_named(demo_probs, tmp_path, capsys):
    demo, probs = demo_probs
    bad = sorted((demo / "labels").iterdir())[2]
    bad.write_bytes(b"not a png")
    assert main(["rank", str(demo), "--probs", str(probs), "--method", "a2lc", "--json",
                 str(tmp_path / "r.json"), "-q", "--workers", "2"]) == 2
    assert f"{bad}: cannot be read" in capsys.readouterr().err


@pytest.fixture
def environ():
    """This process's environment before the test, given back after it: a
    Dask cluster's nannies set ``OMP_NUM_THREADS=1`` (and MKL's and
    OpenBLAS's) here as they start (``distributed.nanny.pre-spawn-environ``),
    and a process started with it would train its model on one thread."""
    before = dict(os.environ)
    yield before
    os.environ.clear()
    os.environ.update(before)


def simulate_with(demo, out, *where, env=None, cwd=None):
    """``a2lc simulate`` with SLIC regions made at Start, in a fresh process
    as a person runs it (no state left by other tests, its environment
    ``env``, default this one's; run in ``cwd``, if given, and the dataset
    and output folders named from there): the bytes of every region map,
    label map, round log and metrics file it wrote."""
    named = [p if cwd is None else p.relative_to(cwd) for p in (demo, out)]
    subprocess.run([sys.executable, "-m", "a2lc_napari.cli", "simulate", str(named[0]),
                    "--method", "a2lc", "--rounds", "2", "--budget", "6", "--steps", "5",
                    "--regions", "slic", "--out", str(named[1]), "-q", *where], check=True,
                   timeout=600, env=os.environ if env is None else env, cwd=cwd)
    files = sorted(p for sub in ("regions", "labels", "log") for p in (out / sub).iterdir())
    return {p.relative_to(out): p.read_bytes() for p in [*files, out / "metrics.json"]}


def test_a_session_on_worker_processes_equals_one_process(tmp_path):
    demo = make_demo_dataset(tmp_path / "demo", n_images=4, size=(48, 64), seed=3)
    one = simulate_with(demo, tmp_path / "one", "--workers", "1")
    two = simulate_with(demo, tmp_path / "two", "--workers", "2")
    assert sum(p.parts[0] == "regions" and p.suffix == ".npy" for p in one) == 4
    assert sum(p.parts[0] == "log" for p in one) == 2
    assert one.keys() == two.keys()
    for path in one:
        assert one[path] == two[path], path


def test_a_session_on_a_dask_cluster_runs_each_image_there(tmp_path, environ):
    demo = make_demo_dataset(tmp_path / "demo", n_images=4, size=(48, 64), seed=3)
    one = simulate_with(demo, tmp_path / "one", "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as stream:
        # the environment the run above had: the cluster changed this one; the
        # folders named from another folder than the workers'
        on_cluster = simulate_with(demo, tmp_path / "dask", "--scheduler",
                                   cluster.scheduler_address, env=environ, cwd=tmp_path)
    # each image was checked, got its regions and its kept files, and was summarised in
    # both rounds there, and each round's out-of-fold trees were fitted there, a task per
    # fold (4 images: 4)
    assert len(stream.data) == 4 * 5 + 2 * 4
    assert on_cluster == {path: data for path, data in one.items()}


def test_a_port_that_is_no_scheduler_is_one_plain_error(demo_probs, tmp_path, capsys,
                                                        monkeypatch):
    """Found in a walk-through: a port that takes connections but speaks
    another protocol (a web server's) kept the command waiting without end."""
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    with socket.create_server(("127.0.0.1", 0)) as server:  # takes, never answers
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        demo, probs = demo_probs
        assert main(["rank", str(demo), "--probs", str(probs), "--method", "alc", "--json",
                     str(tmp_path / "r.json"), "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert (f"{address} takes connections but does not answer as a Dask scheduler: is it "
            "the scheduler's port" in err)
    assert "Traceback" not in err and not (tmp_path / "r.json").exists()


def test_ctrl_c_on_a_run_with_workers_is_one_line(demo_probs, tmp_path):
    """Ctrl+C in a terminal reaches every process of the command: each
    worker printed its own traceback (found in a walk-through)."""
    import psutil  # distributed's

    demo, probs = demo_probs
    run = subprocess.Popen([sys.executable, "-m", "a2lc_napari.cli", "rank", str(demo),
                            "--probs", str(probs), "--method", "alc", "--json",
                            str(tmp_path / "r.json"), "--workers", "2"],
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    command = psutil.Process(run.pid)
    deadline = time.monotonic() + 120
    while len(command.children()) < 2 and time.monotonic() < deadline:  # the workers
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)  # as a terminal sends Ctrl+C: to the whole command
    err = run.communicate(timeout=120)[1]
    assert run.returncode == 130, err[-2000:]
    assert "Interrupted. Rerun the same command to resume." in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
