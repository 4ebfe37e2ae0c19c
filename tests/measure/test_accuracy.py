"""The evaluators against the reference implementations on seeded random cases."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchsel.data import load_data
from benchsel.data.coco_panoptic import id2rgb
from benchsel.data.types import Dataset, ImageRecord, Instance
from benchsel.measure.accuracy import (
    COCO_STAT_NAMES,
    CocoEvaluator,
    PanopticEvaluator,
    SemanticEvaluator,
    coco_evaluate,
    coco_ground_truth,
)
from benchsel.predictions import Detections, PanopticPrediction, PanopticSegment, SemanticMap
from tests.conftest import shared_data

# ---------------------------------------------------------------- COCO box / mask AP


def _pycocotools(gt: dict, results: list, iou_type: str) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": gt["images"],
                "categories": gt["categories"],
                "annotations": [],
            }
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def _ours(stats: dict, iou_type: str) -> np.ndarray:
    return np.asarray([stats[f"{iou_type}_{n}"] for n in COCO_STAT_NAMES])


def _random_case(
    seed: int, n_images=6, classes=("a", "b", "c", "d"), crowd=True, gt_classes=(0, 1, 2), size=200
):
    """GT with objects in all size buckets (and crowd), classes absent from GT."""
    rng = np.random.default_rng(seed)
    images = []
    aid = 0
    for i in range(1, n_images + 1):
        rec = ImageRecord(i, None, size, size)  # type: ignore[arg-type]
        for _ in range(int(rng.integers(0, 8))):
            aid += 1
            side = float(np.exp(rng.uniform(np.log(6), np.log(150))))
            x, y = rng.uniform(0, size - side, 2)
            w, h = side * rng.uniform(0.6, 1.0), side * rng.uniform(0.6, 1.0)
            poly = [[x, y, x + w, y, x + w, y + h, x, y + h * 0.7]]
            is_crowd = crowd and rng.random() < 0.1
            seg = poly
            if is_crowd:
                m = np.zeros((size, size), np.uint8)
                m[int(y) : int(y + h), int(x) : int(x + w)] = 1
                seg = mask_utils.encode(np.asfortranarray(m))
            label = int(rng.choice(gt_classes))
            rec.instances.append(Instance(aid, label, (x, y, x + w, y + h), w * h, seg, is_crowd))
        images.append(rec)
    for k, side in enumerate((12.0, 60.0, 130.0)):  # one object per COCO size bucket
        aid += 1
        x = y = 20.0 * k
        poly = [[x, y, x + side, y, x + side, y + side, x, y + side]]
        images[0].instances.append(
            Instance(
                aid, gt_classes[k % len(gt_classes)], (x, y, x + side, y + side), side * side, poly
            )
        )
    if crowd:  # and one crowd region (RLE), as in real COCO
        aid += 1
        m = np.zeros((size, size), np.uint8)
        m[100:160, 100:180] = 1
        rle = mask_utils.encode(np.asfortranarray(m))
        images[-1].instances.append(
            Instance(aid, gt_classes[0], (100, 100, 180, 160), 4800.0, rle, True)
        )
    return Dataset("rand", "coco", None, list(classes), len(classes), images)  # type: ignore[arg-type]


def _random_dets(
    ds: Dataset, seed: int, per_image=(0, 30), with_masks=False, pred_classes=(0, 1, 3)
) -> dict[int, Detections]:
    """Jittered copies of GT plus random boxes; class 3 never in GT, class 2 never predicted."""
    rng = np.random.default_rng(seed)
    out = {}
    for im in ds.images:
        boxes, labels = [], []
        for inst in im.instances:
            if rng.random() < 0.8:
                jitter = rng.normal(0, 4, 4)
                boxes.append(np.asarray(inst.box) + jitter)
                label = inst.label if rng.random() < 0.85 else int(rng.choice(pred_classes))
                labels.append(label if label in pred_classes else pred_classes[0])
        for _ in range(int(rng.integers(*per_image))):
            x, y = rng.uniform(0, im.width - 10, 2)
            w, h = rng.uniform(4, 120, 2)
            boxes.append([x, y, x + w, y + h])
            labels.append(int(rng.choice(pred_classes)))
        b = np.clip(np.asarray(boxes, np.float32).reshape(-1, 4), 0, im.width)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
        masks = None
        if with_masks:
            masks = np.zeros((len(b), im.height, im.width), bool)
            for k, (x1, y1, x2, y2) in enumerate(b.astype(int)):
                masks[k, y1:y2, x1:x2] = True
                masks[k, y1 : y1 + max(1, (y2 - y1) // 4), x1 : x1 + max(1, (x2 - x1) // 3)] = False
        out[im.id] = Detections(
            b, rng.random(len(b)).astype(np.float32), np.asarray(labels, np.int64), masks
        )
    return out


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
def test_coco_api_fixture_scores_exactly_as_pycocotools(iou_type):
    root = shared_data("coco_val2014_100")
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


# ---------------------------------------------------------------- semantic


def _oracle_semantic(gts, preds, n, ignore):
    """Per-class IoU by direct counting, independent of the confusion matrix."""
    inter = np.zeros(n)
    union = np.zeros(n)
    gt_area = np.zeros(n)
    pred_area = np.zeros(n)
    for g, p in zip(gts, preds, strict=True):
        keep = g != ignore
        for c in range(n):
            gc, pc = (g == c) & keep, (p == c) & keep
            inter[c] += (gc & pc).sum()
            union[c] += (gc | pc).sum()
            gt_area[c] += gc.sum()
            pred_area[c] += pc.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
        acc = inter / gt_area
        dice = 2 * inter / (gt_area + pred_area)
    return iou, acc, dice, inter.sum() / gt_area.sum()


@pytest.mark.parametrize("seed", range(4))
def test_semantic_matches_direct_counting(seed):
    rng = np.random.default_rng(seed)
    n, ignore = 5, 255
    names = [f"c{i}" for i in range(n)]
    gts, preds = [], []
    ev = SemanticEvaluator(names, ignore)
    for _ in range(4):
        g = rng.integers(0, n - 1, (20, 30))  # class 4 never in GT
        g[rng.random(g.shape) < 0.1] = ignore
        p = np.where(rng.random(g.shape) < 0.7, g, rng.integers(0, n, g.shape))
        p[p == ignore] = 0
        if seed == 3:
            p[p == 2] = 1  # class 2 never predicted
        gts.append(g)
        preds.append(p)
        ev.process(g, SemanticMap(p))
    out = ev.evaluate()
    iou, acc, dice, aacc = _oracle_semantic(gts, preds, n, ignore)
    np.testing.assert_allclose([out[f"IoU/c{i}"] for i in range(n)], iou, rtol=1e-12)
    assert out["mIoU"] == pytest.approx(np.nanmean(iou), rel=1e-12)
    assert out["mAcc"] == pytest.approx(np.nanmean(acc), rel=1e-12)
    assert out["mDice"] == pytest.approx(np.nanmean(dice), rel=1e-12)
    assert out["aAcc"] == pytest.approx(aacc, rel=1e-12)


def test_semantic_class_absent_everywhere_is_nan_and_excluded():
    ev = SemanticEvaluator(["a", "b", "c"])
    g = np.array([[0, 0, 1, 1]])
    ev.process(g, np.array([[0, 1, 1, 1]]))
    out = ev.evaluate()
    assert np.isnan(out["IoU/c"])
    assert out["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_semantic_void_predictions_count_as_misses():
    ev = SemanticEvaluator(["a", "b"])
    ev.process(np.array([[0, 0, 1, 1]]), np.array([[0, 255, 1, 1]]))
    out = ev.evaluate()
    assert out["IoU/a"] == 0.5 and out["aAcc"] == 0.75


# ---------------------------------------------------------------- panoptic


def _random_panoptic(rng, h=40, w=48, n_things=2, n_stuff=2):
    """GT id map with stuff bands, thing boxes, a crowd region and void pixels."""
    ids = np.zeros((h, w), np.int64)
    segs = []
    sid = 1
    for k in range(n_stuff):
        ids[k * h // n_stuff : (k + 1) * h // n_stuff] = sid
        segs.append((sid, n_things + k, False))
        sid += 1
    for _ in range(int(rng.integers(1, 5))):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        ids[y : y + int(rng.integers(4, 14)), x : x + int(rng.integers(4, 14))] = sid
        segs.append((sid, int(rng.integers(0, n_things)), bool(rng.random() < 0.15)))
        sid += 1
    ids[rng.random((h, w)) < 0.03] = 0  # void
    present = set(np.unique(ids).tolist())
    return ids, [s for s in segs if s[0] in present]


def _perturb(rng, ids, segs, n_classes):
    pred = ids.copy()
    pred = np.roll(pred, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
    labels = {}
    for sid, label, _ in segs:
        r = rng.random()
        if r < 0.1:
            pred[pred == sid] = 0  # missed
            continue
        labels[sid] = label if r < 0.85 else int(rng.integers(0, n_classes))
    y, x = rng.integers(0, ids.shape[0] - 6), rng.integers(0, ids.shape[1] - 6)
    pred[y : y + 5, x : x + 5] = 999  # a spurious segment
    labels[999] = int(rng.integers(0, n_classes))
    present = set(np.unique(pred).tolist())
    return pred, {k: v for k, v in labels.items() if k in present}


@pytest.mark.parametrize("seed", range(3))
def test_panoptic_matches_panopticapi(seed, tmp_path, capsys):
    from panopticapi.evaluation import pq_compute

    rng = np.random.default_rng(seed)
    classes, n_things = ["car", "person", "road", "sky"], 2
    cats = [{"id": i + 1, "name": n, "isthing": int(i < n_things)} for i, n in enumerate(classes)]
    ev = PanopticEvaluator(classes, n_things)
    gt_anns, pred_anns = [], []
    for d in ("gt", "pred"):
        (tmp_path / d).mkdir()
    for image_id in range(1, 6):
        ids, segs = _random_panoptic(rng)
        pred_ids, pred_labels = _perturb(rng, ids, segs, len(classes))
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
    ref = pq_compute(
        str(tmp_path / "gt.json"),
        str(tmp_path / "pred.json"),
        str(tmp_path / "gt"),
        str(tmp_path / "pred"),
    )
    ours = ev.evaluate()
    for name, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        assert ours["PQ" + suffix] == pytest.approx(ref[name]["pq"], abs=1e-12)
        assert ours["SQ" + suffix] == pytest.approx(ref[name]["sq"], abs=1e-12)
        assert ours["RQ" + suffix] == pytest.approx(ref[name]["rq"], abs=1e-12)
    for cat in cats:
        key = f"PQ/{cat['name']}"
        if key in ours:
            assert ours[key] == pytest.approx(ref["per_class"][cat["id"]]["pq"], abs=1e-12)


def test_panoptic_ground_truth_against_itself_is_perfect():
    root = shared_data("panoptic_sample")
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
