"""Why AP is lost: TIDE's error breakdown and the COCO analysis breakdown mmdet plots.

TIDE (Bolya et al., ECCV 2020) sorts every false positive and missed object of an IoU-0.5
evaluation into one error type — classification, localisation, both, duplicate, background,
missed — and reports each type's dAP: how much AP would rise if only those errors were fixed.
No maintained library computes it (``tidecv`` is unmaintained since 2020 and pulls in plotting
packages), so :func:`tide_errors` implements TIDE's definitions on pycocotools' IoU; the tests
hold it to ``tidecv`` 1.0.1 on pycocotools' own fixture.

:func:`coco_error_analysis` is the COCO detection challenge's analysis (mmdet's
``coco_error_analysis.py``): AP at IoU 0.75 and 0.5, at 0.1 (``Loc``: localisation errors
forgiven), with supercategory and then any class confusion forgiven (``Sim``, ``Oth``), with
every background false positive removed (``BG``) and with every object found (``FN``, 1).
It re-runs faster-coco-eval's COCOeval, once per category for the confusion steps.

Values are fractions in [0, 1]; COCO dicts and results are what
:func:`benchsel.evaluation.coco_ground_truth` and ``CocoEvaluator.results`` hold.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchsel.evaluation.coco import IouType

TIDE_ERRORS = ("cls", "loc", "both", "dupe", "bkg", "miss")  # TIDE's main error types
TIDE_SPECIAL = ("fp", "fn")  # all false positives / all false negatives fixed
TIDE_NAMES = {
    "cls": "classification",
    "loc": "localisation",
    "both": "classification and localisation",
    "dupe": "duplicate",
    "bkg": "background",
    "miss": "missed object",
    "fp": "all false positives",
    "fn": "all false negatives",
}
TIDE_POS_IOU = 0.5
TIDE_BG_IOU = 0.1
TIDE_MAX_DETS = 100
ANALYSIS_STEPS = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")
_RECALL_POINTS = np.array([x / 100 for x in range(101)])  # TIDE's 101-point recall grid


# -- TIDE


@dataclass
class _TideError:
    """One TIDE error: a prediction (``pred``) or a missed ground truth (``gt``)."""

    kind: str
    pred: int = -1
    gt: int = -1  # the ground truth a cls / loc error would match once fixed
    fixable: bool = False  # cls / loc: the target ground truth was unused at the time


@dataclass
class _TideRun:
    """Per-class data points of one evaluation and the errors behind its false results."""

    pred_class: np.ndarray
    pred_score: np.ndarray
    gt_class: np.ndarray
    points: dict[int, dict[int, tuple[float, bool]]] = field(default_factory=dict)
    num_gt: dict[int, int] = field(default_factory=dict)
    errors: list[_TideError] = field(default_factory=list)
    false_negatives: dict[int, int] = field(default_factory=dict)  # class -> unmatched GT
    ignored: set[int] = field(default_factory=set)  # predictions inside crowd regions
    best_pred: dict[int, int] = field(default_factory=dict)  # GT -> its best cls/loc error

    def touch(self, cls: int) -> None:
        self.points.setdefault(cls, {})
        self.num_gt.setdefault(cls, 0)

    def original(self, e: _TideError) -> tuple[int, tuple[float, bool] | None]:
        if e.pred < 0 or e.pred in self.ignored:
            return -1, None
        return int(self.pred_class[e.pred]), (float(self.pred_score[e.pred]), False)

    def fixed(self, e: _TideError) -> tuple[int, tuple[float, bool] | int | None]:
        if e.kind == "miss":
            return int(self.gt_class[e.gt]), -1
        if e.kind in ("cls", "loc") and e.fixable and self.best_pred.get(e.gt) == e.pred:
            cls = self.gt_class[e.gt] if e.kind == "cls" else self.pred_class[e.pred]
            return int(cls), (float(self.pred_score[e.pred]), True)
        return -1, None

    def fix(
        self,
        condition: Callable[[_TideError], bool] = lambda e: False,
        transform: Callable[[tuple[float, bool]], tuple[float, bool]] | None = None,
        drop_false_negatives: bool = False,
    ) -> float:
        """mAP (TIDE's) with the errors ``condition`` selects fixed (TIDERun.fix_errors)."""
        num_gt = dict(self.num_gt)
        points: dict[int, dict[int, tuple[float, bool]]] = defaultdict(dict)
        for e in self.errors:
            cls, point = self.original(e)
            if condition(e):
                cls, fixed = self.fixed(e)
                if isinstance(fixed, int):
                    num_gt[cls] += fixed
                    point = None
                else:
                    point = fixed
            if point is not None:
                points[cls][e.pred] = transform(point) if transform else point
        for cls in num_gt:
            for pid, point in self.points[cls].items():
                if point[1]:
                    points[cls][pid] = transform(point) if transform else point
        if drop_false_negatives:
            for cls, n in self.false_negatives.items():
                if cls in num_gt:
                    num_gt[cls] -= n
        return _tide_map(points, num_gt)


def _tide_ap(points: dict[int, tuple[float, bool]], num_gt: int) -> float:
    """TIDE's AP of one class (fraction): COCO-style 101-point interpolated precision."""
    if num_gt == 0:
        return 0.0
    values = list(points.values())
    scores = np.array([-p[0] for p in values], dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    tp = np.array([values[i][1] for i in order], dtype=bool)
    if not tp.size:
        return 0.0
    n_true = np.cumsum(tp)
    precision = n_true / np.arange(1, tp.size + 1)
    recall = n_true / num_gt
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, _RECALL_POINTS, side="left")
    y = np.where(idx < precision.size, precision[np.minimum(idx, precision.size - 1)], 0.0)
    return float(y.sum() / y.size)


def _tide_map(points: dict[int, dict[int, tuple[float, bool]]], num_gt: dict[int, int]) -> float:
    classes = set(points) | set(num_gt)
    aps = [
        _tide_ap(points.get(c, {}), num_gt.get(c, 0))
        for c in classes
        if points.get(c) or num_gt.get(c, 0) > 0
    ]
    return float(sum(aps) / len(aps)) if aps else 0.0


def _regions(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType
) -> tuple[list[Any], list[Any]]:
    """Each annotation's and detection's region as pycocotools' IoU takes it."""
    from pycocotools import mask as mask_utils

    if iou_type == "bbox":
        return [a["bbox"] for a in gt["annotations"]], [r["bbox"] for r in results]
    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}

    def rle(seg: Any, image_id: int) -> Any:
        h, w = size[image_id]
        if isinstance(seg, list):
            return mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        if isinstance(seg.get("counts"), list):
            return mask_utils.frPyObjects(seg, h, w)
        return seg

    return (
        [rle(a["segmentation"], a["image_id"]) for a in gt["annotations"]],
        [r["segmentation"] for r in results],
    )


def _iou(dets: list[Any], gts: list[Any], crowd: bool) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets, gts, [int(crowd)] * len(gts)), dtype=np.float64)


def _tide_run(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    iou_type: IouType,
    pos: float,
    bg: float,
    max_dets: int,
) -> _TideRun:
    """Match and classify every error, image by image (TIDEExample / TIDERun._eval_image)."""
    anns = gt["annotations"]
    gt_region, det_region = _regions(gt, results, iou_type)
    run = _TideRun(
        pred_class=np.array([r["category_id"] for r in results], dtype=np.int64),
        pred_score=np.array([r["score"] for r in results], dtype=np.float64),
        gt_class=np.array([a["category_id"] for a in anns], dtype=np.int64),
    )
    gts_of: dict[int, list[int]] = defaultdict(list)
    for g, a in enumerate(anns):
        gts_of[a["image_id"]].append(g)
    preds_of: dict[int, list[int]] = defaultdict(list)
    for p, r in enumerate(results):
        preds_of[r["image_id"]].append(p)
    best_score: dict[int, float] = {}
    for image in dict.fromkeys(im["id"] for im in gt["images"]):
        targets = [g for g in gts_of[image] if not anns[g].get("iscrowd")]
        crowds = [g for g in gts_of[image] if anns[g].get("iscrowd")]
        for g in targets:
            run.touch(int(run.gt_class[g]))
            run.num_gt[int(run.gt_class[g])] += 1
        unused = set(targets)
        preds = preds_of[image]
        if preds:
            order = np.argsort(-run.pred_score[preds], kind="stable")[:max_dets]
            preds = [preds[i] for i in order]
            iou = _iou([det_region[p] for p in preds], [gt_region[g] for g in targets], False)
            same = run.pred_class[preds][:, None] == run.gt_class[targets][None, :]
            cls_iou = iou * same
            buffer = cls_iou.copy()
            used = np.zeros(len(preds), dtype=bool)
            for i in range(len(preds)):
                if targets:
                    j = int(np.argmax(buffer[i]))
                    if buffer[i, j] >= pos:
                        used[i] = True
                        unused.discard(targets[j])
                        buffer[:, j] = 0
            for c in crowds:
                crowd_iou = _iou([det_region[p] for p in preds], [gt_region[c]], True)[:, 0]
                for i, p in enumerate(preds):
                    if not used[i] and crowd_iou[i] > pos and run.pred_class[p] == run.gt_class[c]:
                        run.ignored.add(p)
            gt_used = np.array([g not in unused for g in targets], dtype=bool)
            for i, p in enumerate(preds):
                cls = int(run.pred_class[p])
                if p not in run.ignored:
                    run.touch(cls)
                    run.points[cls][p] = (float(run.pred_score[p]), bool(used[i]))
                if used[i]:
                    continue
                e = _classify(p, i, targets, iou, same, gt_used, pos, bg)
                run.errors.append(e)
                if e.fixable and best_score.get(e.gt, -1.0) < run.pred_score[p]:
                    best_score[e.gt] = float(run.pred_score[p])  # TIDE's BestGTMatch
                    run.best_pred[e.gt] = p
        for g in targets:
            if g in unused:
                cls = int(run.gt_class[g])
                run.false_negatives[cls] = run.false_negatives.get(cls, 0) + 1
                if g not in run.best_pred:  # no cls / loc error can recover it
                    run.errors.append(_TideError("miss", gt=g))
    return run


def _classify(
    p: int,
    i: int,
    targets: list[int],
    iou: np.ndarray,
    same: np.ndarray,
    gt_used: np.ndarray,
    pos: float,
    bg: float,
) -> _TideError:
    """The error type of unmatched prediction ``p`` (row ``i``), in TIDE's order of tests."""
    if not targets:
        return _TideError("bkg", pred=p)
    row, same_row = iou[i], same[i]
    j = int(np.argmax(row * same_row))
    if bg <= row[j] * same_row[j] <= pos:
        return _TideError("loc", pred=p, gt=targets[j], fixable=not gt_used[j])
    j = int(np.argmax(row * ~same_row))
    if row[j] * (not same_row[j]) >= pos:
        return _TideError("cls", pred=p, gt=targets[j], fixable=not gt_used[j])
    if (row * same_row * gt_used).max() >= pos:
        return _TideError("dupe", pred=p)
    if row.max() <= bg:
        return _TideError("bkg", pred=p)
    return _TideError("both", pred=p)


def tide_errors(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    iou_type: IouType = "bbox",
    pos_iou: float = TIDE_POS_IOU,
    bg_iou: float = TIDE_BG_IOU,
    max_dets: int = TIDE_MAX_DETS,
) -> dict[str, float]:
    """TIDE's breakdown: ``tide_AP50`` (TIDE's own AP at ``pos_iou``) and the dAP of each
    error type, ``tide_<kind>`` for the kinds in ``TIDE_ERRORS`` and ``TIDE_SPECIAL``.

    As TIDE, a main error's dAP is never negative and crowd regions make the detections inside
    them (same class, IoU above ``pos_iou``) count as neither right nor wrong.
    """
    run = _tide_run(gt, results, iou_type, pos_iou, bg_iou, max_dets)
    ap = _tide_map(run.points, run.num_gt)  # not fix(): its order breaks score ties otherwise
    out = {"tide_AP50": ap}
    for kind in TIDE_ERRORS:

        def of_kind(e: _TideError, k: str = kind) -> bool:
            return e.kind == k

        out[f"tide_{kind}"] = max(run.fix(of_kind) - ap, 0.0)
    out["tide_fp"] = run.fix(transform=lambda p: (1.0, True) if p[1] else (0.0, False)) - ap
    out["tide_fn"] = run.fix(drop_false_negatives=True) - ap
    return out


# -- COCO analysis (mmdet's coco_error_analysis.py)


def _cocoeval_precision(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    iou_type: IouType,
    iou_thresholds: list[float],
    cat_ids: list[int] | None = None,
) -> np.ndarray:
    """COCOeval's precision [T, R, K] at area 'all', 100 detections (-1 where undefined)."""
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ids = cat_ids if cat_ids is not None else [c["id"] for c in gt["categories"]]
        if not results:
            return np.zeros((len(iou_thresholds), 101, len(ids)))
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type)
        ev.params.iouThrs = np.asarray(iou_thresholds, dtype=np.float64)
        ev.params.maxDets = [100]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.catIds = ids
        ev.evaluate()
        ev.accumulate()
    return np.asarray(ev.eval["precision"])[:, :, :, 0, 0]


def _forgiving(
    gt: dict[str, Any], cat_id: int, forgiven: set[int], images: set[int]
) -> dict[str, Any]:
    """``gt`` with the objects of ``forgiven`` classes relabelled ``cat_id`` as crowd regions,
    so detections of ``cat_id`` on them are ignored (mmdet's analyze_individual_category).

    Only images in ``images`` (those with detections of ``cat_id``) keep relabelled objects:
    elsewhere a crowd region changes nothing."""
    anns = []
    for a in gt["annotations"]:
        if a["category_id"] == cat_id:
            anns.append(a)
        elif a["category_id"] in forgiven and a["image_id"] in images:
            anns.append({**a, "category_id": cat_id, "iscrowd": 1, "ignore": 1})
    return {**gt, "annotations": anns}


def coco_error_analysis(
    gt: dict[str, Any], results: list[dict[str, Any]], iou_type: IouType = "bbox"
) -> dict[str, float]:
    """``analysis_<step>`` for C75, C50, Loc, Sim (only when categories name supercategories),
    Oth, BG and FN: AP (fraction) as each kind of error is forgiven in turn.

    Means are over categories with ground truth (COCO's convention; mmdet's plot also averages
    categories without any as 0).
    """
    cats = sorted(gt["categories"], key=lambda c: c["id"])  # COCOeval's category order
    cat_ids = [c["id"] for c in cats]
    with_gt = {a["category_id"] for a in gt["annotations"] if not a.get("iscrowd")}
    keep = np.array([c in with_gt for c in cat_ids], dtype=bool)
    if not keep.any():
        return {}
    base = _cocoeval_precision(gt, results, iou_type, [0.75, 0.5, 0.1], cat_ids)
    steps: dict[str, np.ndarray] = {"C75": base[0], "C50": base[1], "Loc": base[2]}
    has_super = all(c.get("supercategory") for c in cats)
    sim = np.zeros_like(base[2])
    oth = np.zeros_like(base[2])
    for k, cat in enumerate(cats):
        if not keep[k]:
            continue
        dets = [r for r in results if r["category_id"] == cat["id"]]
        images = {r["image_id"] for r in dets}
        if has_super:
            family = {c["id"] for c in cats if c.get("supercategory") == cat["supercategory"]}
            gt_k = _forgiving(gt, cat["id"], family, images)
            sim[:, k] = _cocoeval_precision(gt_k, dets, iou_type, [0.1], [cat["id"]])[0, :, 0]
        gt_k = _forgiving(gt, cat["id"], set(cat_ids), images)
        oth[:, k] = _cocoeval_precision(gt_k, dets, iou_type, [0.1], [cat["id"]])[0, :, 0]
    if has_super:
        steps["Sim"] = sim
    steps["Oth"] = oth
    steps["BG"] = (np.maximum(oth, 0) > 0).astype(np.float64)
    steps["FN"] = np.ones_like(oth)
    return {
        f"analysis_{name}": float(np.maximum(ps[:, keep], 0).mean()) for name, ps in steps.items()
    }
