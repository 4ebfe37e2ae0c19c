"""Panoptic quality against panopticapi on seeded random cases and its own example."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchsel.data import load_data
from benchsel.data.coco_panoptic import id2rgb
from benchsel.evaluation.panoptic import PanopticEvaluator
from benchsel.predictions import PanopticPrediction, PanopticSegment
from tests.evaluation.cases import (
    _perturb,
    _random_panoptic,
)

# ---------------------------------------------------------------- panoptic


def _panopticapi(root: Path) -> tuple[dict[str, dict], dict[int, dict], set[int]]:
    """panopticapi on ``root/{gt,pred}.json`` and their PNG folders ``root/{gt,pred}/``.

    The steps of its ``pq_compute`` on one core (no process pool), keeping its ``PQStat``: the
    summary per All / Things / Stuff, the per-class dict (every category; a category with no
    segment in ground truth or prediction gets a placeholder 0.0 and is left out of the means),
    and the category ids it counts (tp + fp + fn > 0).
    """
    from panopticapi.evaluation import pq_compute_single_core

    gt = json.loads((root / "gt.json").read_text())
    pred = {a["image_id"]: a for a in json.loads((root / "pred.json").read_text())["annotations"]}
    categories = {c["id"]: c for c in gt["categories"]}
    matched = [(a, pred[a["image_id"]]) for a in gt["annotations"]]
    stat = pq_compute_single_core(0, matched, str(root / "gt"), str(root / "pred"), categories)
    summary = {
        name: stat.pq_average(categories, isthing=isthing)[0]
        for name, isthing in (("All", None), ("Things", True), ("Stuff", False))
    }
    per_class = stat.pq_average(categories, isthing=None)[1]
    counted = {c for c in categories if stat[c].tp + stat[c].fp + stat[c].fn > 0}
    return summary, per_class, counted


def _assert_panoptic_agrees(ours: dict[str, float], root: Path, names: dict[int, str]) -> None:
    """benchsel's PQ / SQ / RQ and its per-class PQ (keys and values) equal panopticapi's."""
    ref, per_class, counted = _panopticapi(root)
    for name, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        assert ours["PQ" + suffix] == pytest.approx(ref[name]["pq"], abs=1e-12)
        assert ours["SQ" + suffix] == pytest.approx(ref[name]["sq"], abs=1e-12)
        assert ours["RQ" + suffix] == pytest.approx(ref[name]["rq"], abs=1e-12)
    assert set(per_class) == set(names), "panopticapi lists every category"
    ours_per_class = {k.removeprefix("PQ/"): v for k, v in ours.items() if k.startswith("PQ/")}
    assert set(ours_per_class) == {names[c] for c in counted}, "classes differ from panopticapi's"
    for c in counted:
        assert ours_per_class[names[c]] == pytest.approx(per_class[c]["pq"], abs=1e-12), names[c]


# "water" is in the category list but never in ground truth or a prediction.
PANOPTIC_CLASSES, PANOPTIC_THINGS = ["car", "person", "road", "sky", "water"], 2


@pytest.mark.parametrize("seed", range(3))
def test_panoptic_matches_panopticapi(seed, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    classes, n_things = PANOPTIC_CLASSES, PANOPTIC_THINGS
    cats = [{"id": i + 1, "name": n, "isthing": int(i < n_things)} for i, n in enumerate(classes)]
    ev = PanopticEvaluator(classes, n_things)
    gt_anns, pred_anns = [], []
    for d in ("gt", "pred"):
        (tmp_path / d).mkdir()
    for image_id in range(1, 6):
        ids, segs = _random_panoptic(rng)
        pred_ids, pred_labels = _perturb(rng, ids, segs, len(classes) - 1)  # never "water"
        name = f"{image_id}.png"
        Image.fromarray(id2rgb(ids)).save(tmp_path / "gt" / name)
        Image.fromarray(id2rgb(pred_ids)).save(tmp_path / "pred" / name)
        area = dict(zip(*np.unique(ids, return_counts=True), strict=True))
        gt_anns.append(
            {
                "image_id": image_id,
                "file_name": name,
                "segments_info": [
                    {"id": s, "category_id": lbl + 1, "iscrowd": int(c), "area": int(area[s])}
                    for s, lbl, c in segs
                ],
            }
        )
        pred_anns.append(
            {
                "image_id": image_id,
                "file_name": name,
                "segments_info": [
                    {"id": s, "category_id": lbl + 1} for s, lbl in pred_labels.items()
                ],
            }
        )
        ev.process(
            ids,
            segs,
            PanopticPrediction(
                pred_ids,
                [PanopticSegment(s, lbl, lbl < n_things) for s, lbl in pred_labels.items()],
            ),
        )
    images = [{"id": a["image_id"], "file_name": a["file_name"]} for a in gt_anns]
    (tmp_path / "gt.json").write_text(
        json.dumps({"images": images, "annotations": gt_anns, "categories": cats})
    )
    (tmp_path / "pred.json").write_text(json.dumps({"annotations": pred_anns}))
    _assert_panoptic_agrees(ev.evaluate(), tmp_path, {c["id"]: c["name"] for c in cats})
    assert "PQ/water" not in ev.evaluate()


def _one_image_panoptic(root: Path, car_json_area: int) -> dict[int, str]:
    """A 20x20 image: a 10x10 car (100 pixels) on road, predicted exactly; the GT json gives the
    car ``car_json_area``."""
    ids = np.full((20, 20), 2)
    ids[:10, :10] = 1
    cats = [{"id": 1, "name": "car", "isthing": 1}, {"id": 2, "name": "road", "isthing": 0}]
    segments = [
        {"id": 1, "category_id": 1, "iscrowd": 0, "area": car_json_area},
        {"id": 2, "category_id": 2, "iscrowd": 0, "area": 300},
    ]
    for name in ("gt", "pred"):
        (root / name).mkdir()
        Image.fromarray(id2rgb(ids)).save(root / name / "1.png")
    image = {"id": 1, "file_name": "1.png", "width": 20, "height": 20}
    ann = {"image_id": 1, "file_name": "1.png", "segments_info": segments}
    (root / "gt.json").write_text(
        json.dumps({"images": [image], "annotations": [ann], "categories": cats})
    )
    pred_ann = {**ann, "segments_info": [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}]}
    (root / "pred.json").write_text(json.dumps({"annotations": [pred_ann]}))
    return {c["id"]: c["name"] for c in cats}


def test_panoptic_png_area_agrees_with_panopticapi(tmp_path, capsys):
    """The json ``area`` equals the PNG's pixel count, as in COCO: perfect, for both."""
    from benchsel.evaluation.score_files import score_files

    names = _one_image_panoptic(tmp_path, car_json_area=100)
    ours = score_files("panoptic", tmp_path / "gt.json", tmp_path / "pred.json")
    assert ours["PQ"] == ours["PQ/car"] == ours["PQ/road"] == 1.0
    _assert_panoptic_agrees(ours, tmp_path, names)


def test_panoptic_json_area_that_differs_from_the_png_is_used_like_panopticapi(tmp_path, capsys):
    """The json says the car covers 300 pixels, its PNG 100. panopticapi's union for the exact
    prediction is 100 + 300 - 100 = 300 (IoU 1/3: no match, a FN and a FP, PQ/car 0)."""
    from benchsel.evaluation.score_files import score_files

    names = _one_image_panoptic(tmp_path, car_json_area=300)
    _, per_class, _ = _panopticapi(tmp_path)
    assert per_class[1]["pq"] == 0.0 and per_class[2]["pq"] == 1.0  # what panopticapi does
    ours = score_files("panoptic", tmp_path / "gt.json", tmp_path / "pred.json")
    _assert_panoptic_agrees(ours, tmp_path, names)


def test_panoptic_ground_truth_against_itself_is_perfect(panoptic_sample):
    root = panoptic_sample
    ds = load_data(root / "panoptic_examples.json").splits["all"]
    from benchsel.data.coco_panoptic import read_segment_png

    ev = PanopticEvaluator(ds.classes, ds.num_things)
    for im in ds.images:
        ids = read_segment_png(im.panoptic_file)
        segs = [(s.id, s.label, s.iscrowd) for s in im.segments]
        pred = PanopticPrediction(
            ids,
            [
                PanopticSegment(s.id, s.label, s.label < ds.num_things)
                for s in im.segments
                if not s.iscrowd
            ],
        )
        ev.process(ids, segs, pred)
    out = ev.evaluate()
    assert out["PQ"] == out["SQ"] == out["RQ"] == 1.0
