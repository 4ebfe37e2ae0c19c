"""Seeded random cases and reference computations shared by the evaluator tests.

A plain helper module (not a test file): tests/evaluation/test_accuracy.py and
test_uncertainty.py both build their cases here and score them against the references.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchsel.data.types import Dataset, ImageRecord, Instance
from benchsel.predictions import Detections


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
