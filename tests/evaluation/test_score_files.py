"""`benchsel eval` on files in the standard result formats."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchsel.data.sample import generate_sample
from benchsel.evaluation.coco import COCO_STAT_NAMES


@pytest.fixture
def score(benchsel):
    """``score(*args)``: ``benchsel eval *args --json`` through the console script."""
    return lambda *args: benchsel("eval", *args, "--json")


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_fixture_via_cli_equals_pycocotools(coco_val2014_100, score, iou_type):
    root = coco_val2014_100
    gt = root / "instances_val2014_100.json"
    pred = root / f"instances_val2014_fake{iou_type}100_results.json"
    result = score("--task", iou_type, "--gt", str(gt), "--pred", str(pred))
    assert result.code == 0, result.output
    ours = result.report()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        ev = COCOeval(coco, coco.loadRes(str(pred)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    got = [ours[f"{iou_type}_{n}"] for n in COCO_STAT_NAMES]
    np.testing.assert_allclose(got, ev.stats, rtol=0, atol=1e-9)
    assert ours[f"{iou_type}_AP/fire hydrant"] is None  # no GT: undefined, null in JSON


def test_panoptic_ground_truth_against_itself(panoptic_sample, score, tmp_path):
    root = panoptic_sample
    pred = tmp_path / "pred.json"
    shutil.copy(root / "panoptic_examples.json", pred)
    shutil.copytree(root / "panoptic_examples", tmp_path / "pred")
    result = score(
        "--task", "panoptic", "--gt", str(root / "panoptic_examples.json"), "--pred", str(pred)
    )
    assert result.code == 0, result.output
    out = result.report()
    assert out["PQ"] == out["SQ"] == out["RQ"] == 1.0
    assert out["PQ_th"] == 1.0 and out["PQ_st"] == 1.0
    assert out["semantic_mIoU"] == 1.0


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("s")
    generate_sample(root, images=8, size=64, seed=0)
    return root


def test_semantic_folder_scores(sample, score, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(sample / "labels", pred)
    perfect = score(
        "--task", "semantic", "--gt", str(sample), "--format", "mask_folder", "--pred", str(pred)
    )
    assert perfect.code == 0, perfect.output
    assert perfect.report()["mIoU"] == 1.0
    from PIL import Image

    first = sorted(pred.glob("*.png"))[0]
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(first)
    worse = score(
        "--task", "semantic", "--gt", str(sample), "--format", "mask_folder", "--pred", str(pred)
    )
    assert worse.code == 0, worse.output
    assert worse.report()["mIoU"] < 1.0 and worse.report()["aAcc"] < 1.0


def test_sample_boxes_against_themselves(sample, score, tmp_path):
    gt = sample / "annotations/instances_all.json"
    data = json.loads(gt.read_text())
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in data["annotations"]
    ]
    pred = tmp_path / "res.json"
    pred.write_text(json.dumps(results))
    result = score("--task", "bbox", "--gt", str(gt), "--pred", str(pred))
    assert result.code == 0, result.output
    assert result.report()["bbox_AP"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}], "image_id 999"),
        ([{"image_id": 1, "category_id": 77, "bbox": [0, 0, 1, 1], "score": 1}], "category_id 77"),
        ([{"image_id": 1, "category_id": 1, "score": 1}], "has no bbox"),
        ({"not": "a list"}, "must be a json list"),
    ],
)
def test_bad_prediction_files_are_clear_errors(sample, score, tmp_path, entries, message):
    pred = tmp_path / "res.json"
    pred.write_text(json.dumps(entries))
    gt = sample / "annotations/instances_all.json"
    result = score("--task", "bbox", "--gt", str(gt), "--pred", str(pred))
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_missing_prediction_file(sample, score, tmp_path):
    gt = sample / "annotations/instances_all.json"
    result = score("--task", "bbox", "--gt", str(gt), "--pred", str(tmp_path / "nope.json"))
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: ") and "not found" in result.stderr
