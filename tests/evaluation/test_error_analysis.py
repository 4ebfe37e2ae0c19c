"""Error breakdowns held to their reference implementations: TIDE to ``tidecv`` 1.0.1, the COCO
analysis to mmdet's ``coco_error_analysis.py`` (pycocotools), on pycocotools' fixture and on
seeded cases with crowd regions."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

from benchsel.evaluation.coco import CocoEvaluator, coco_ground_truth
from benchsel.evaluation.error_analysis import TIDE_ERRORS, coco_error_analysis, tide_errors
from tests.evaluation.cases import _random_case, _random_dets

TIDE_NAMES = {"cls": "Cls", "loc": "Loc", "both": "Both", "dupe": "Dupe", "bkg": "Bkg"}
TIDE_NAMES["miss"] = "Miss"


def _tidecv(gt_file: Path, results_file: Path, iou_type: str) -> dict[str, float]:
    """tidecv's numbers, loaded by tidecv from the files, as fractions with benchsel's keys."""
    pytest.importorskip("tidecv")
    import matplotlib

    matplotlib.use("Agg")
    from tidecv import TIDE, datasets

    mode = TIDE.BOX if iou_type == "bbox" else TIDE.MASK
    gt = datasets.COCO(str(gt_file))
    preds = datasets.COCOResult(str(results_file))
    tide = TIDE(mode=mode)
    tide.evaluate(gt, preds, mode=mode)
    main = tide.get_main_errors()[preds.name]
    special = tide.get_special_errors()[preds.name]
    out = {"tide_AP50": tide.runs[preds.name].ap / 100}
    out.update({f"tide_{k}": main[name] / 100 for k, name in TIDE_NAMES.items()})
    out["tide_fp"] = special["FalsePos"] / 100
    out["tide_fn"] = special["FalseNeg"] / 100
    return out


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_tide_equals_tidecv_on_the_coco_fixture(coco_val2014_100, iou_type):
    gt_file = coco_val2014_100 / "instances_val2014_100.json"
    res_file = coco_val2014_100 / f"instances_val2014_fake{iou_type}100_results.json"
    ours = tide_errors(json.loads(gt_file.read_text()), json.loads(res_file.read_text()), iou_type)
    ref = _tidecv(gt_file, res_file, iou_type)
    assert ours.keys() == ref.keys()
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert ref["tide_cls"] > 0.1 and ref["tide_miss"] > 0.05  # the fixture has real errors


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_tide_equals_tidecv_on_seeded_cases_with_crowd(tmp_path, seed, iou_type):
    ds = _random_case(seed, n_images=8)
    ev = CocoEvaluator(ds, iou_type)
    for image_id, det in _random_dets(ds, seed + 10, with_masks=iou_type == "segm").items():
        ev.process(image_id, det)
    gt = coco_ground_truth(ds, "segm")  # tidecv's loader reads every object's mask
    for im in gt["images"]:
        im["file_name"] = f"{im['id']}.png"
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(ev.results))
    ours = tide_errors(gt, ev.results, iou_type)
    ref = _tidecv(tmp_path / "gt.json", tmp_path / "res.json", iou_type)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert sum(ours[f"tide_{k}"] for k in TIDE_ERRORS) > 0


def test_tide_without_detections_loses_nothing_to_errors(coco_val2014_100):
    """Fixing a miss removes the object (TIDE's definition): with nothing found, no error type
    gains AP. (tidecv itself divides by zero here: every class ends up empty.)"""
    gt = json.loads((coco_val2014_100 / "instances_val2014_100.json").read_text())
    out = tide_errors(gt, [], "bbox")
    assert out["tide_AP50"] == 0
    assert all(out[f"tide_{k}"] == 0 for k in (*TIDE_ERRORS, "fp", "fn"))


def _mmdet_analysis(gt: dict, results: list, iou_type: str) -> dict[str, float]:
    """mmdet's tools/analysis_tools/coco_error_analysis.py (shipped in the mmdet wheel) on
    pycocotools, its per-category steps unchanged, averaged over categories with ground truth."""
    import mmdet

    path = Path(mmdet.__file__).parent / ".mim/tools/analysis_tools/coco_error_analysis.py"
    if not path.is_file():
        pytest.skip("mmdet's coco_error_analysis.py is not in this mmdet install")
    import matplotlib

    matplotlib.use("Agg")
    spec = importlib.util.spec_from_file_location("coco_error_analysis", path)
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(copy.deepcopy(coco_gt), copy.deepcopy(coco_dt), iou_type)
        ev.params.iouThrs = [0.75, 0.5, 0.1]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
        ps = ev.eval["precision"]
        ps = np.vstack([ps, np.zeros((4, *ps.shape[1:]))])
        cat_ids = coco_gt.getCatIds()
        for k, cat_id in enumerate(cat_ids):
            _, found = tool.analyze_individual_category(k, coco_dt, coco_gt, cat_id, iou_type)
            ps[3, :, k, :, :] = found["ps_supercategory"]
            ps[4, :, k, :, :] = found["ps_allcategory"]
            ps[ps == -1] = 0
            ps[5, :, k, :, :] = ps[4, :, k, :, :] > 0
            ps[6, :, k, :, :] = 1.0
    with_gt = {a["category_id"] for a in gt["annotations"] if not a.get("iscrowd")}
    keep = [k for k, c in enumerate(cat_ids) if c in with_gt]
    steps = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")
    return {f"analysis_{s}": float(ps[t][:, keep, 0, 0].mean()) for t, s in enumerate(steps)}


def _few_categories(gt: dict, results: list, n: int) -> tuple[dict, list]:
    """The fixture cut to its ``n`` most frequent categories (mmdet's tool is slow)."""
    counts: dict[int, int] = {}
    for a in gt["annotations"]:
        counts[a["category_id"]] = counts.get(a["category_id"], 0) + 1
    keep = set(sorted(counts, key=lambda c: -counts[c])[:n])
    return (
        {
            **gt,
            "categories": [c for c in gt["categories"] if c["id"] in keep],
            "annotations": [a for a in gt["annotations"] if a["category_id"] in keep],
        },
        [r for r in results if r["category_id"] in keep],
    )


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_analysis_equals_mmdet_tool(coco_val2014_100, iou_type):
    gt = json.loads((coco_val2014_100 / "instances_val2014_100.json").read_text())
    res = json.loads(
        (coco_val2014_100 / f"instances_val2014_fake{iou_type}100_results.json").read_text()
    )
    gt, res = _few_categories(gt, res, 8)
    ours = coco_error_analysis(gt, res, iou_type)
    ref = _mmdet_analysis(gt, res, iou_type)
    assert ours.keys() == ref.keys()
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
    values = [ours[f"analysis_{s}"] for s in ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")]
    assert values == sorted(values) and values[0] < values[-1]  # each step forgives more


def test_coco_analysis_skips_sim_without_supercategories():
    ds = _random_case(3)
    ev = CocoEvaluator(ds, "bbox")
    for image_id, det in _random_dets(ds, 4).items():
        ev.process(image_id, det)
    gt = coco_ground_truth(ds, "bbox")
    out = coco_error_analysis(gt, ev.results, "bbox")
    assert "analysis_Sim" not in out and out["analysis_FN"] == 1.0
    assert out["analysis_C75"] <= out["analysis_C50"] <= out["analysis_Loc"] <= out["analysis_Oth"]
