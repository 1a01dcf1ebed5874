"""How long reading another program's masks takes, against merely decoding them.

Writes one Cityscapes-sized image (1024×2048) with 150 random rectangle
masks in each input form that ``--regions PATH`` reads (amg.py's PNG
folder, its RLE JSON, a COCO JSON with RLE, a region-map PNG), then times,
side by side and best of three:

- decoding only: the mask PNGs read with PIL, or the RLEs decoded with
  pycocotools, nothing else;
- ``RegionFiles.region_map``: the same files read, checked and painted into
  one region map (smaller on top).

Filling the gaps with SLIC regions is the same for every form and timed
apart. Prints a Markdown table.

    python benchmarks/region_files.py --out runs/region_files
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from a2lc_napari.engine.coco import encode_mask
from a2lc_napari.engine.dataset import NameMatcher
from a2lc_napari.engine.region_files import RegionFiles
from a2lc_napari.engine.regions import fill_gaps

SHAPE = (1024, 2048)
N_MASKS = 150


def random_masks(rng) -> list[np.ndarray]:
    masks = []
    for _ in range(N_MASKS):
        h, w = rng.integers(20, 400), rng.integers(20, 800)
        r, c = rng.integers(0, SHAPE[0] - h), rng.integers(0, SHAPE[1] - w)
        mask = np.zeros(SHAPE, bool)
        mask[r:r + h, c:c + w] = True
        masks.append(mask)
    return masks


def write_inputs(out: Path, masks) -> dict[str, Path]:
    amg = out / "amg" / "img"
    amg.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(masks):
        Image.fromarray(m.astype(np.uint8) * 255).save(amg / f"{i}.png")
    (amg / "metadata.csv").write_text("id,area\n" + "".join(
        f"{i},{int(m.sum())}\n" for i, m in enumerate(masks)))
    rles = [encode_mask(m) for m in masks]
    (out / "rle").mkdir(exist_ok=True)
    (out / "rle" / "img.json").write_text(json.dumps([{"segmentation": r} for r in rles]))
    (out / "coco.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "img.png", "height": SHAPE[0], "width": SHAPE[1]}],
        "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "segmentation": r}
                        for i, r in enumerate(rles)]}))
    (out / "maps").mkdir(exist_ok=True)
    painted = np.zeros(SHAPE, np.uint16)
    for i, m in enumerate(masks, 1):
        painted[m] = i
    Image.fromarray(painted).save(out / "maps" / "img.png")
    return {"amg.py PNG folder": out / "amg", "amg.py RLE JSON": out / "rle",
            "COCO JSON (RLE)": out / "coco.json", "region-map PNG": out / "maps"}


def best(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def decode_only(kind: str, path: Path):
    if kind == "amg.py PNG folder":
        return lambda: [np.array(Image.open(p)) for p in sorted((path / "img").glob("*.png"))]
    if kind == "region-map PNG":
        return lambda: np.array(Image.open(path / "img.png"))
    file = path / "img.json" if path.is_dir() else path

    def decode():
        data = json.loads(file.read_text())
        records = data if isinstance(data, list) else data["annotations"]
        return [mask_utils.decode({"size": r["segmentation"]["size"],
                                   "counts": r["segmentation"]["counts"].encode()})
                for r in records]
    return decode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/region_files"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    masks = random_masks(np.random.default_rng(0))
    inputs = write_inputs(args.out, masks)
    print(f"{N_MASKS} masks on one {SHAPE[0]}×{SHAPE[1]} image, best of 3\n")
    print("| input | decode only (s) | region map (s) | map / decode |")
    print("|---|---|---|---|")
    regions = None
    for kind, path in inputs.items():
        files = RegionFiles(path, NameMatcher({"img": Path("img.png")}))
        t_decode = best(decode_only(kind, path))
        t_map = best(lambda files=files: files.region_map("img", SHAPE, Path("img.png")))
        regions = files.region_map("img", SHAPE, Path("img.png"))
        print(f"| {kind} | {t_decode:.2f} | {t_map:.2f} | {t_map / t_decode:.1f}× |")
    image = np.random.default_rng(1).integers(0, 256, (*SHAPE, 3), dtype=np.uint8)
    labels = np.zeros(SHAPE, np.uint8)
    t_fill = best(lambda: fill_gaps(regions, image, labels), repeat=1)
    print(f"\nfilling the {int((regions == 0).sum())} gap pixels with SLIC regions: "
          f"{t_fill:.2f} s")


if __name__ == "__main__":
    main()
