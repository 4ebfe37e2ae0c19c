"""Evaluator speed: benchsel's COCO scoring vs pycocotools on the COCO API fixture.

Both sides start from the same files and end with the twelve statistics; runs alternate
between the two so machine noise hits both alike. Prints the median times and their ratio.
Target: benchsel at least 2x faster for bbox.

    python benchmarks/evaluator_speed.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared/data/coco_val2014_100"


def pycocotools_run(gt: Path, res: Path, iou_type: str) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        ev = COCOeval(coco, coco.loadRes(str(res)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def benchsel_run(gt: Path, res: Path, iou_type: str) -> np.ndarray:
    from benchsel.data import load_data
    from benchsel.evaluation.coco import COCO_STAT_NAMES, coco_evaluate, coco_ground_truth

    ds = load_data(gt, check_images=False).splits["all"]
    stats = coco_evaluate(coco_ground_truth(ds, iou_type), json.loads(res.read_text()), iou_type)
    return np.asarray([stats[f"{iou_type}_{n}"] for n in COCO_STAT_NAMES])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    args = parser.parse_args()
    if not args.fixture.is_dir():
        print(f"fixture {args.fixture} not found")
        return 1
    gt = args.fixture / "instances_val2014_100.json"
    print(
        f"{'iou':<5} {'pycocotools ms':>15} {'benchsel ms':>12} {'speed-up':>9} {'max |diff|':>11}"
    )
    for iou_type in ("bbox", "segm"):
        res = args.fixture / f"instances_val2014_fake{iou_type}100_results.json"
        times = {"pycocotools": [], "benchsel": []}
        for _ in range(args.repeats):
            for name, fn in (("pycocotools", pycocotools_run), ("benchsel", benchsel_run)):
                start = time.perf_counter()
                stats = fn(gt, res, iou_type)
                times[name].append((time.perf_counter() - start) * 1000)
                if name == "pycocotools":
                    ref = stats
        diff = float(np.abs(stats - ref).max())
        ref_ms = statistics.median(times["pycocotools"])
        ours_ms = statistics.median(times["benchsel"])
        print(
            f"{iou_type:<5} {ref_ms:>15.1f} {ours_ms:>12.1f} {ref_ms / ours_ms:>8.2f}x "
            f"{diff:>11.1e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
