"""The ``a2lc`` command: clean up the labels of a segmentation dataset."""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import textwrap
from difflib import get_close_matches
from pathlib import Path

from .engine.dataset import CITYSCAPES_LABELS, open_dataset
from .engine.errors import DatasetError
from .engine.export import EXPORT_FORMATS, IMAGE_MODES
from .engine.io import outside_inputs, user_cache, write_json
from .engine.methods import CONFIDENCES, METHODS, ranks_with_trees
from .engine.progress import drive
from .engine.query_stats import right_per_correction
from .engine.region_cache import make_region_cache
from .engine.region_files import REGION_FILE_KINDS
from .engine.regions import (
    MIN_GAP_AREA,
    REGION_SOURCES,
    SAM_CHECKPOINT_HELP,
    SAM_MODEL_TYPES,
    SAM_MODES,
    RegionsConfig,
)

# The commands import their engine modules when run, so that `a2lc rank`
# and `--help` do not pay for importing torch.

DESCRIPTION = """\
Clean up noisy segmentation labels by active label correction (ALC, A²LC).

A dataset is a folder with classes.json, images/, labels/ (the noisy
pseudo-labels), and optionally regions/ and gt/ (ground truth); a PASCAL VOC
or Cityscapes folder works as it is. The dataset folder is never written to.

Start here:
  a2lc demo                                 # the sample dataset, in napari
  a2lc demo data/demo --no-viewer           # only write it
  a2lc simulate data/demo --method a2lc --rounds 5 --budget 30 --out runs/a2lc
"""


def _cache_dir(dataset: Path, labels: Path | None, regions: RegionsConfig) -> Path:
    """A folder for generated regions, outside the dataset, per dataset,
    label folder and regions setting."""
    key = hashlib.sha1(f"{dataset.resolve()}|{labels and labels.resolve()}|{regions}".encode())
    return user_cache() / "regions" / key.hexdigest()[:16]


def _open_checked(path: Path, labels: Path | None, regions: RegionsConfig, probs: Path,
                  output: Path, quiet: bool = False, background_is_ignore: bool = False,
                  executor=None):
    """The dataset ``a2lc rank`` ranks, checked, its regions made; the
    ``output`` file refused first where it lies in what the command reads."""
    dataset = open_dataset(path, labels_dir=labels, background_is_ignore=background_is_ignore)
    dataset.use_regions(regions)
    if outside_inputs(output, {**dataset.inputs,
                               "the probability maps' folder": probs}).is_dir():
        raise DatasetError(output, "is a folder; --json takes the file to write")
    # Ranking reads no image (regions made from them read them when made).
    drive(dataset.check(executor, read_images=False), quiet)
    drive(make_region_cache(dataset, _cache_dir(path, labels, regions), executor), quiet)
    _note_left_out(dataset)
    return dataset


def _note_left_out(dataset) -> None:
    if (note := dataset.left_out_note()) is not None:
        print(f"note: {note}", file=sys.stderr)


#: The named region sources of ``--regions``; any other value is a path.
NAMED_REGION_SOURCES = tuple(s for s in REGION_SOURCES if s != "files")


def _number(kind: type, low: float, high: float | None = None):
    """An argparse type: a number of ``kind`` from ``low`` (to ``high``)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not (low <= value and (high is None or value <= high)):  # NaN too
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: from {low}" + ("" if high is None else f" to {high}"))
        return value
    return parse


def _image_size(text: str) -> tuple[int, int]:
    """``--size``: ``HEIGHTxWIDTH`` in pixels, each from 16 to 8192."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH, e.g. 1024x2048")
    size = int(parts[0]), int(parts[1])
    if not all(16 <= n <= 8192 for n in size):
        raise argparse.ArgumentTypeError(f"{text}: each side must be from 16 to 8192 pixels")
    return size


def _scheduler_address(text: str) -> str:
    """``--scheduler``: a Dask scheduler's address, ``[PROTOCOL://]HOST:PORT``."""
    if text.lower().startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"{text} is a web address (the dashboard's?); the scheduler's is "
            "tcp://HOST:PORT, e.g. tcp://host:8786")
    if not re.fullmatch(r"((tcp|tls|ucx|ws|wss)://)?(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d+",
                        text):  # a host name, an IPv4 address or a bracketed IPv6 one
        raise argparse.ArgumentTypeError(f"{text!r} is not a scheduler's address, "
                                         "tcp://HOST:PORT, e.g. tcp://host:8786")
    return text


def _regions_value(text: str) -> str | Path:
    """``--regions``: a named source, or the path of region files."""
    return text if text in NAMED_REGION_SOURCES else Path(text)


def _applies(flags: list[str]) -> str:
    return "applies" if len(flags) == 1 else "apply"


def _absolute(path: Path) -> Path:
    """``path`` from the folder the command runs in: worker processes and a
    cluster's machines read it from folders of their own."""
    return path.expanduser().absolute()


def _regions_config(parser: argparse.ArgumentParser, args) -> RegionsConfig:
    """The ``--regions`` and ``--sam-*`` options as a config; misuse is a usage error."""
    if args.regions == "sam" and args.sam_checkpoint is None:
        folder = (" (the folder sam here is read as region files when given as ./sam)"
                  if Path("sam").exists() else "")
        parser.error(f"--regions sam needs --sam-checkpoint PATH{folder}. "
                     f"{SAM_CHECKPOINT_HELP}")
    if args.regions != "sam":
        given = [flag for flag, value in (("--sam-checkpoint", args.sam_checkpoint),
                                          ("--sam-model-type", args.sam_model_type),
                                          ("--sam-mode", args.sam_mode)) if value is not None]
        if given:
            parser.error(f"{', '.join(given)} {_applies(given)} only with --regions sam")
    if isinstance(args.regions, Path) and not args.regions.exists():
        parser.error(f"--regions {args.regions}: no such file or folder; give a folder of "
                     "region files, a COCO .json file, or one of "
                     f"{', '.join(NAMED_REGION_SOURCES)}")
    if isinstance(args.regions, Path):
        return RegionsConfig("files", path=str(_absolute(args.regions)),
                             min_gap_area=args.min_gap_area)
    return RegionsConfig(args.regions, args.sam_checkpoint and str(_absolute(args.sam_checkpoint)),
                         args.sam_model_type, args.sam_mode or "auto",
                         min_gap_area=args.min_gap_area)


def _check_method_options(parser: argparse.ArgumentParser, args) -> None:
    """Options the chosen ``--method`` would ignore are a usage error."""
    method = METHODS[args.method]
    given = [flag for flag, used in (("--tau", args.tau), ("--paper-lcm", args.paper_lcm))
             if used]
    if given and not method.lcm:
        parser.error(f"{', '.join(given)} {_applies(given)} only to a method with an LCM "
                     f"({', '.join(k for k, m in METHODS.items() if m.lcm)})")
    if args.confidence != parser.get_default("confidence") and not method.takes_confidence:
        parser.error(f"--confidence applies only to A²LC's ranking "
                     f"({', '.join(k for k, m in METHODS.items() if m.takes_confidence)})")
    if args.prune and not ranks_with_trees(method, args.confidence):
        with_trees = [(k, c) for k, m in METHODS.items() for c in CONFIDENCES
                      if ranks_with_trees(m, c)]
        parser.error("--prune applies only where the queries are ranked by the out-of-fold "
                     f"trees (--method {' or '.join(dict.fromkeys(k for k, _ in with_trees))}, "
                     f"--confidence {' or '.join(dict.fromkeys(c for _, c in with_trees))})")


def cmd_demo(args) -> None:
    from .engine.demo import demo_folder, make_demo_dataset

    out = make_demo_dataset(args.out or demo_folder(), n_images=args.images, size=args.size,
                            seed=args.seed)
    print(f"Wrote the sample dataset to {out}")
    if not args.no_viewer:
        import os

        if sys.platform.startswith("linux") and not (
                os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM")):
            # Qt would abort the process, and advise reinstalling
            raise DatasetError(out, "written, but napari needs a display and none is set "
                               "(no DISPLAY or WAYLAND_DISPLAY): open it from a desktop "
                               "session, or use --no-viewer")
        import napari
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication

        open_in_napari(out)
        if quit_after := os.environ.get("A2LC_QUIT_AFTER_MS"):  # for start-up tests
            QTimer.singleShot(int(quit_after), QApplication.instance().quit)
        napari.run()


def open_in_napari(dataset: Path):
    """A napari viewer showing ``dataset`` with the correction widget docked."""
    import napari

    viewer = napari.Viewer(title="a2lc-napari")
    viewer.open(str(dataset), plugin="a2lc-napari")
    viewer.window.add_plugin_dock_widget("a2lc-napari", "A²LC label correction")
    return viewer


def cmd_rank(args) -> None:
    from .engine.parallel import executor
    from .engine.ranking import rank_precomputed

    if not Path(args.probs).is_dir():
        raise DatasetError(args.probs, "is not a folder; --probs takes the folder of the "
                           "probability maps NAME.npy")

    with executor(args.workers, args.scheduler, preload=("a2lc_napari.engine.ranking",)) as pool:
        dataset = _open_checked(args.dataset, args.labels, args.regions, args.probs,
                                args.json, quiet=args.quiet,
                                background_is_ignore=args.background_is_ignore,
                                executor=pool)
        ranked = drive(rank_precomputed(dataset, args.probs, args.method, args.top, pool),
                       args.quiet)
    write_json(args.json, ranked)
    if not args.quiet:
        print(f"Ranked {len(ranked)} regions → {args.json}")
        made = dataset.region_cache
        if made is not None and next(made.rglob("*.npy"), None) is not None:
            print(f"Their region ids are those of the maps it made, in {made}/NAME.npy")


def cmd_simulate(args) -> None:
    from .engine.config import SessionConfig
    from .engine.driver import simulate, start_session
    from .engine.parallel import executor

    config = SessionConfig(method=args.method, budget=args.budget, seed=args.seed,
                           regions=args.regions, confidence=args.confidence,
                           background_is_ignore=args.background_is_ignore,
                           **({"tau": tuple(args.tau)} if args.tau else {}))
    if args.steps is not None:
        config.model.steps = args.steps
    config.model.backbone = args.backbone
    config.model.prune = args.prune
    config.lcm.paper = args.paper_lcm
    config.lcm.target_precision = None if args.tau else args.target_precision
    resuming = (args.out / "session.json").exists()
    dataset = None if resuming else open_dataset(args.dataset, labels_dir=args.labels,
                                                 background_is_ignore=args.background_is_ignore)
    if dataset is not None and (lacking := dataset.without_gt):
        where = {"generic": "gt/NAME.png",
                 "cityscapes": f"{CITYSCAPES_LABELS}, with the noisy labels in --labels DIR",
                 }.get(dataset.layout, "the folder's own labels, with the noisy ones in "
                                       "--labels DIR")
        raise DatasetError(dataset.root, f"has no ground truth for {lacking[0]}"
                           f"{f' and {len(lacking) - 1} more images' if len(lacking) > 1 else ''}"
                           f"; the simulated annotator needs it for every image ({where})")
    # The session holds the folder's writer lock until this command ends.
    with executor(args.workers or 1, args.scheduler,
                  preload=("a2lc_napari.engine.inference",)) as pool, \
            drive(start_session(args.out, args.dataset, config, args.labels, pool,
                                spread_start=args.workers is None), args.quiet) as session:
        if session.config != config:
            raise DatasetError(args.out / "session.json",
                               "holds a session with other settings ("
                               + "; ".join(session.config.differences(config))
                               + "); use another --out folder, or its settings to "
                               "resume it")
        if resuming and session.round > args.rounds:
            done = session.round - 1
            rounds = f"{done} round{'' if done == 1 else 's'}"
            ran = (f"has run its {rounds}" if done == args.rounds else
                   f"has run {rounds}, more than --rounds {args.rounds}: nothing to run")
            print(f"The session in {args.out} {ran}; --rounds N runs it on to round N")
        elif resuming:
            print(f"Resuming the session in {args.out} at round {session.round}")
            if session.moved:
                print(session.moved_note())
        _note_left_out(session.dataset)
        print(format_table(config.method, session.history))

        def show(record):
            if not args.quiet:
                print(file=sys.stderr)  # below the progress bars (not in a redirected table)
            print(format_row(record, session.method.lcm), flush=True)
            if record.lcm_reason and not record.lcm_changes:
                print(textwrap.fill(f"The LCM changed nothing: {record.lcm_reason}", 100,
                                    initial_indent=" " * 6, subsequent_indent=" " * 6),
                      flush=True)

        drive(simulate(session, args.rounds, on_round=show, executor=pool), args.quiet)
    print(f"Corrected labels in {args.out / 'labels'}, metrics in {args.out / 'metrics.json'}")


TABLE_HEAD = (f"{'round':>5} {'data mIoU %':>11} {'queries':>7} {'manual':>6} "
              f"{'wrong %':>7} {'hit ×':>5} {'LCM':>5} {'LCM ok':>6} {'ok/manual':>9} "
              f"{'LCM est. %':>10} {'at least %':>10} {'τ':>6} {'checked ok':>10}")


#: What each column of the ``simulate`` table says (its ``--help``).
TABLE_LEGEND = (
    "The table, per round: data mIoU %: the labels against the ground truth; queries: "
    "answered; manual: answers that changed a label; wrong %: wrong regions among those "
    "the round could query; hit ×: the share of queries that changed a label over wrong "
    "% (random picks: 1); LCM, LCM ok: the LCM's changes and the right ones; ok/manual: "
    "right LCM changes per manual change; LCM est. %, at least %: its precision as "
    "estimated on held-out answers, and the 90% lower bound; τ: its confidence threshold; "
    "checked ok: its proposals asked as queries, and how many were right.")


def format_row(h, lcm: bool = True) -> str:
    """One round's row of the ``simulate`` table (``h``: a RoundRecord) of
    a method with an LCM, or not (``lcm``: its columns then say "–")."""
    est, low, wrong, hit, per = ("–" if p is None else f"{p:.1f}" for p in (
        h.lcm_estimated_precision, h.lcm_lower_precision, h.wrong_share, h.hit_rate,
        right_per_correction(h.lcm_correct, h.manual_changes) if h.round and lcm else None))
    tau = "–" if h.lcm_tau is None else f"{h.lcm_tau:g}"
    checked = f"{h.lcm_checks_right}/{h.lcm_checks}" if h.lcm_checks else "–"
    return (f"{h.round:>5} {h.data_miou:>11.2f} {h.queries:>7} {h.manual_changes:>6} "
            f"{wrong:>7} {hit:>5} {h.lcm_changes:>5} {h.lcm_correct:>6} {per:>9} "
            f"{est:>10} {low:>10} {tau:>6} {checked:>10}")


def format_table(method: str, history: list) -> str:
    """The head of the ``simulate`` table and the rows of the rounds so far."""
    return "\n".join([f"{method}: {METHODS[method].title}", TABLE_HEAD,
                      *(format_row(h, METHODS[method].lcm) for h in history)])


def cmd_export(args) -> None:
    from .engine.session import Session

    named = None if args.dataset is None else (args.dataset, args.labels)
    # Read only: works while another writes (and a moved folder is followed
    # this time, not saved).
    session = Session.open(args.session, read_only=True, named=named)
    for old, new in session.moved.items():
        print(f"{old} is gone: this export reads those files from {new} (resuming the "
              "session on it keeps it there).")
    folder = drive(session.export(args.out, args.format, args.overwrite, args.images),
                   args.quiet)
    print(f"Exported the labels of {len(session.dataset.names)} images as {args.format} "
          f"to {folder}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="a2lc", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_, func, epilog=None):
        p = sub.add_parser(name, help=help_, description=help_, epilog=epilog)
        p.set_defaults(func=func, command_parser=p)  # its usage line for its errors
        return p

    def dataset_args(p):
        p.add_argument("dataset", type=Path, metavar="DATASET",
                       help="dataset folder (classes.json + images/ + labels/, "
                            "or a PASCAL VOC or Cityscapes folder)")
        p.add_argument("--labels", type=Path, metavar="DIR",
                       help="read the noisy labels from DIR/NAME.png instead; a VOC or "
                            "Cityscapes folder's own labels then serve as ground truth")
        p.add_argument("--background-is-ignore", action="store_true",
                       help="read a labelmap.txt's background entry as ignore even where it "
                            "names a class (CVAT and datumaro paint unannotated pixels "
                            "background:0,0,0; where background names no class it is "
                            "ignore anyway)")
        p.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars, nor lines on what was written where")

    def regions_args(p):
        g = p.add_argument_group("regions (what one answer corrects at once)")
        g.add_argument("--regions", type=_regions_value, default="auto",
                       metavar="auto|slic|sam|PATH",
                       help="auto (default): the regions/ maps of a dataset in the generic "
                            "layout, if it has them (a VOC or Cityscapes folder's: name them "
                            "as PATH), else SLIC superpixels cut along the pseudo-label "
                            "edges; slic: always those superpixels; sam: Segment Anything "
                            "masks, the papers' regions (needs --sam-checkpoint); PATH: "
                            "masks or maps "
                            "that another program wrote, overlaps painted smaller on top "
                            "and gaps filled: "
                            + "; ".join(REGION_FILE_KINDS.values()))
        g.add_argument("--sam-checkpoint", type=Path, metavar="PATH",
                       help="official SAM checkpoint file for --regions sam, e.g. "
                            "sam_vit_b_01ec64.pth, downloaded by hand from the \"Model "
                            "Checkpoints\" section of "
                            "https://github.com/facebookresearch/segment-anything")
        g.add_argument("--sam-model-type", choices=SAM_MODEL_TYPES,
                       help="the checkpoint's model (default: read from the file)")
        g.add_argument("--sam-mode", choices=SAM_MODES,
                       help="auto (default): SAM's own masks of everything in the image; "
                            "boxes: one mask per box around each connected piece of the "
                            "pseudo-labels, as Grounded-SAM's boxes prompt SAM. Pixels no "
                            "mask covers get SLIC regions")
        g.add_argument("--min-gap-area", type=_number(int, 0), default=MIN_GAP_AREA,
                       metavar="PIXELS",
                       help="with masks (sam or PATH): a hole between masks smaller than "
                            f"this joins the masks around it (default {MIN_GAP_AREA}; 0 "
                            "keeps every hole as regions of its own)")

    def parallel_args(p, default: str):
        g = p.add_argument_group("where the per-image work runs (the results are the same)")
        g.add_argument("--workers", type=_number(int, 1), metavar="N",
                       help=f"worker processes on this machine (default: {default}; 1: "
                            "all in this process)")
        g.add_argument("--scheduler", type=_scheduler_address, metavar="ADDRESS",
                       help="run it on a Dask cluster instead, e.g. tcp://host:8786 (needs "
                            "the 'cluster' extra; its workers need this package and the "
                            "files at the same paths)")

    p = add("demo", "Write the sample dataset (images, noisy labels, regions, ground "
            "truth) and open it in napari with the correction widget docked.", cmd_demo)
    p.add_argument("out", type=Path, metavar="OUT", nargs="?",
                   help="folder to write it to (default: the user's cache, "
                        "~/.cache/a2lc-napari/demo)")
    p.add_argument("--no-viewer", action="store_true",
                   help="only write the dataset; do not open napari")
    p.add_argument("--images", type=_number(int, 1), default=40,
                   help="number of images (default 40)")
    p.add_argument("--size", type=_image_size, default=(128, 160), metavar="HxW",
                   help="image height and width in pixels (default 128x160; 1024x2048 is "
                        "a street camera's, as Cityscapes)")
    p.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (default 0)")

    p = add("rank", "Rank every region by how much correcting it would help, "
            "from precomputed probabilities (round 1: nothing corrected yet).", cmd_rank)
    dataset_args(p)
    p.add_argument("--probs", type=Path, required=True, metavar="DIR",
                   help="DIR/NAME.npy: float32 or float16 softmax maps, shape K×H×W")
    p.add_argument("--method", choices=["alc", "a2lc"], required=True,
                   help="alc: look-ahead score a_SIM with a representative pixel; "
                        "a2lc: class-balanced score a_ABC")
    p.add_argument("--top", type=_number(int, 1), metavar="K", help="keep only the best K regions")
    regions_args(p)
    parallel_args(p, "one per core")
    p.add_argument("--json", type=Path, required=True, metavar="OUT",
                   help="write the ranking here: a JSON list, best first")

    p = add("simulate", "Run correction rounds with a simulated annotator that answers "
            "from the ground truth, and report data mIoU per round. Rerun the same "
            "command to resume an interrupted run.", cmd_simulate, epilog=TABLE_LEGEND)
    dataset_args(p)
    p.add_argument("--method", choices=list(METHODS), required=True,
                   help="; ".join(f"{k}: {m.title}" for k, m in METHODS.items()))
    p.add_argument("--rounds", type=_number(int, 1), required=True, help="number of rounds")
    p.add_argument("--budget", type=_number(int, 1), required=True, help="queries per round")
    p.add_argument("--seed", type=_number(int, 0), default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="session folder: corrected labels, logs, metrics.json")
    p.add_argument("--tau", type=_number(float, 0, 1), nargs="+", metavar="T",
                   help="a fixed LCM confidence threshold per round, the last one holding "
                        "for later rounds; by default the LCM chooses τ each round from "
                        "its precision estimated on held-out answers")
    p.add_argument("--target-precision", type=_number(float, 0.5, 1), default=0.9, metavar="P",
                   help="the share of LCM changes that must be right, estimated on "
                        "held-out answers, when τ is chosen (default 0.9)")
    p.add_argument("--paper-lcm", action="store_true",
                   help="the paper's LCM: this round's answers, criteria J1-J3 at a fixed "
                        "τ (default 0.99 0.999)")
    p.add_argument("--backbone", choices=["scratch", "efficientnet_lite0"], default="scratch",
                   help="segmentation model: a small CNN trained from scratch (default), or "
                        "an EfficientNet-Lite0 encoder with ImageNet weights (slower)")
    p.add_argument("--steps", type=_number(int, 1), metavar="N",
                   help="model training steps per round (default 150)")
    p.add_argument("--prune", action="store_true",
                   help="train the model without the labels the out-of-fold trees doubt "
                        "(confident learning's prune step; A²LC and ABC)")
    p.add_argument("--confidence", choices=CONFIDENCES, default="both",
                   help="what A²LC's queries judge labels by: model, the segmentation "
                        "model's probabilities with the authors' a_ABC; out_of_fold, "
                        "boosted trees on region statistics, each image judged by trees "
                        "that never saw it (more wrong labels found per query, smaller "
                        "regions); both (default), a_ABC times the trees' doubt in the "
                        "region's label, taking turns with the doubt alone in round 1 "
                        "(see docs/ALGORITHM.md)")
    regions_args(p)
    # 1 by default: on 2 cores a round's images ran no faster on workers
    parallel_args(p, "1; at Start, one per core where the images are many")

    p = add("export", "Write a session's current labels in a format that training code "
            "or an annotation tool reads, with a README of where they came from.",
            cmd_export)
    p.add_argument("session", type=Path, metavar="SESSION", help="session folder")
    p.add_argument("out", type=Path, metavar="OUT",
                   help="folder to write to: empty or new, outside the dataset")
    p.add_argument("--format", choices=list(EXPORT_FORMATS), default="palette",
                   help="; ".join(f"{k}: {v}" for k, v in EXPORT_FORMATS.items())
                   + " (default: palette)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that is not empty, replacing files of the "
                        "same names")
    p.add_argument("--images", choices=IMAGE_MODES, default="copy",
                   help="copy the images into the export (default), or link to the "
                        "dataset's files (images of another format are converted)")
    for flag, what in (("--dataset", "the session's dataset folder"),
                       ("--labels", "its pseudo-labels' folder (with --dataset)")):
        p.add_argument(flag, type=Path, metavar="DIR",
                       help=f"where {what} is now, if it moved (read from there once it "
                            "holds the same files)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars, nor lines on what was written where")
    return parser


class _DroppedWhenClosed:
    """Standard output that, once its reader has gone (``| head``), drops
    what is printed: the run goes on, where the first print would end it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what is buffered goes there too
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    stdout = sys.stdout
    sys.stdout = _DroppedWhenClosed(stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout = stdout


def _main(argv: list[str] | None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A console or file in another encoding (Windows' code pages) shows
        # "?" for a τ or a → rather than stopping the command.
        if (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "") != "utf8" \
                and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the command's usage, not the program's
        _unrecognized(getattr(args, "command_parser", parser), unknown)
    if "regions" in args:
        args.regions = _regions_config(args.command_parser, args)
    if getattr(args, "probs", None) is not None:
        args.probs = _absolute(args.probs)
    if "paper_lcm" in args:
        _check_method_options(args.command_parser, args)
    if getattr(args, "workers", None) is not None and args.scheduler is not None:
        args.command_parser.error("--workers and --scheduler exclude each other: a "
                                  "cluster's workers are its own")
    try:
        args.func(args)
    except (DatasetError, ConnectionError) as e:  # a file, or a cluster, to fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a path the system refuses: not a folder, no permission, full
        print(f"error: {e.filename}: {e.strerror}" if e.filename else f"error: {e}",
              file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemError) as e:
        if not _interrupted(e):
            raise
        # A session goes on where it stopped; rank keeps the region maps made.
        print("\nInterrupted." + (" Rerun the same command to resume." if args.command in
                                  ("simulate", "rank") else ""), file=sys.stderr)
        return 130
    return 0


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Stop on arguments ``parser`` does not know, naming the option meant."""
    options = [o for action in parser._actions for o in action.option_strings]
    meant = [close[0] for arg in unknown if arg.startswith("--")
             for close in [get_close_matches(arg.split("=")[0], options, n=1, cutoff=0.8)] if close]
    parser.error(f"unrecognized arguments: {' '.join(unknown)}"
                 + (f" (did you mean {', '.join(meant)}?)" if meant else ""))


def _interrupted(error: BaseException | None) -> bool:
    """Whether Ctrl+C caused ``error``: numba's compiled code, interrupted,
    raises a SystemError caused by the KeyboardInterrupt."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
