"""COCO box and mask AP against pycocotools on seeded random cases and the COCO API fixture."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchsel.data import load_data
from benchsel.evaluation.coco import (
    COCO_STAT_NAMES,
    CocoEvaluator,
    coco_evaluate,
    coco_ground_truth,
)
from benchsel.predictions import Detections
from tests.evaluation.cases import (
    _pycocotools,
    _random_case,
    _random_dets,
)

# ---------------------------------------------------------------- COCO box / mask AP


def _ours(stats: dict, iou_type: str) -> np.ndarray:
    return np.asarray([stats[f"{iou_type}_{n}"] for n in COCO_STAT_NAMES])


def _score(ds, dets, iou_type):
    ev = CocoEvaluator(ds, iou_type)
    for image_id, d in dets.items():
        ev.process(image_id, d)
    return ev.evaluate(), ev.results


CASES = {
    "typical": {},
    "no_predictions": {"per_image": (0, 1), "drop_all": True},
    "over_100_per_image": {"per_image": (120, 160)},
    "no_ground_truth": {"empty_gt": True},
}


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_matches_pycocotools(case, seed, iou_type):
    opts = CASES[case]
    ds = _random_case(seed)
    if opts.get("empty_gt"):
        for im in ds.images:
            im.instances = []
    dets = _random_dets(
        ds, seed + 100, per_image=opts.get("per_image", (0, 30)), with_masks=iou_type == "segm"
    )
    if opts.get("drop_all"):
        dets = {
            k: Detections(
                v.boxes[:0], v.scores[:0], v.labels[:0], None if v.masks is None else v.masks[:0]
            )
            for k, v in dets.items()
        }
    stats, results = _score(ds, dets, iou_type)
    expected = _pycocotools(coco_ground_truth(ds, iou_type), results, iou_type)
    np.testing.assert_allclose(_ours(stats, iou_type), expected, rtol=0, atol=1e-9)
    if case == "typical":
        sizes = {
            b: sum(
                1 for im in ds.images for i in im.instances if not i.iscrowd and lo <= i.area < hi
            )
            for b, (lo, hi) in {"s": (0, 32**2), "m": (32**2, 96**2), "l": (96**2, 1e9)}.items()
        }
        assert all(sizes.values()), f"want every size bucket in GT, got {sizes}"
        assert any(i.iscrowd for im in ds.images for i in im.instances)
        assert np.isnan(stats[f"{iou_type}_AP/d"]), "class d is absent from GT"
        assert stats[f"{iou_type}_AP/c"] == 0.0, "class c is never predicted"


def test_more_than_100_detections_are_capped_like_pycocotools():
    ds = _random_case(5)
    dets = _random_dets(ds, 7, per_image=(150, 151))
    assert all(len(d) > 100 for d in dets.values())
    stats, results = _score(ds, dets, "bbox")
    np.testing.assert_allclose(
        _ours(stats, "bbox"),
        _pycocotools(coco_ground_truth(ds, "bbox"), results, "bbox"),
        atol=1e-9,
        rtol=0,
    )


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_api_fixture_scores_exactly_as_pycocotools(coco_val2014_100, iou_type):
    root = coco_val2014_100
    gt_file = root / "instances_val2014_100.json"
    res_file = root / f"instances_val2014_fake{iou_type}100_results.json"
    loaded = load_data(gt_file, check_images=False)
    ds = loaded.splits["all"]
    results = json.loads(res_file.read_text())
    ours = coco_evaluate(coco_ground_truth(ds, iou_type), results, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(str(res_file)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_allclose(_ours(ours, iou_type), ev.stats, rtol=0, atol=1e-9)
