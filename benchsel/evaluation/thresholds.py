"""Operating points: precision, recall and F1 against confidence, and confusion matrices.

A detector is deployed at one confidence threshold. :func:`f1_curves` gives per-class
precision / recall / F1 at each threshold of a grid and the threshold that maximises the mean
F1 over classes (Ultralytics' choice of operating point, unsmoothed). A detection counts as
right by COCOeval's own matching at IoU 0.5 (greedy by score, crowd regions ignored, 100
detections per image), read from the evaluation state, so nothing is matched twice.
:func:`detection_confusion` counts, at that threshold, which class each labelled object was
predicted as (IoU >= 0.5, class-agnostic, highest IoU first), with a background row
(predictions of nothing) and column (objects nobody predicted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsel.evaluation.coco import CocoEvalState
from benchsel.evaluation.val_predictions import ValPredictions

F1_IOU = 0.5
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)  # the confidence grid
MATCHING = (
    "COCOeval's matching at IoU 0.5 (greedy by score, crowd ignored, 100 detections per image); "
    "a detection counts at a threshold when its score is >= the threshold"
)
CONFUSION_MATCHING = (
    "class-agnostic, IoU >= 0.5, highest IoU first, each object and detection used once; "
    "detections scored below the F1-best threshold dropped"
)


@dataclass
class F1Curves:
    """Per-class precision / recall / F1 at each of ``thresholds`` and their mean over classes."""

    thresholds: np.ndarray  # (T,)
    classes: list[str]
    precision: np.ndarray  # (K, T)
    recall: np.ndarray  # (K, T)
    f1: np.ndarray  # (K, T)

    @property
    def mean_f1(self) -> np.ndarray:
        return self.f1.mean(axis=0) if len(self.classes) else np.zeros(len(self.thresholds))

    @property
    def best(self) -> int:
        """Index of the threshold with the highest mean F1 (the lowest such threshold)."""
        return int(np.argmax(self.mean_f1))

    def metrics(self) -> dict[str, float]:
        """``f1_best``, ``f1_best_threshold``, and mean and per-class P / R / F1 there."""
        b = self.best
        out = {
            "f1_best": float(self.mean_f1[b]),
            "f1_best_threshold": float(self.thresholds[b]),
            "precision_at_f1_best": float(self.precision[:, b].mean()) if self.classes else 0.0,
            "recall_at_f1_best": float(self.recall[:, b].mean()) if self.classes else 0.0,
        }
        for k, name in enumerate(self.classes):
            out[f"f1/{name}"] = float(self.f1[k, b])
            out[f"precision/{name}"] = float(self.precision[k, b])
            out[f"recall/{name}"] = float(self.recall[k, b])
        return out

    def to_json(self) -> dict[str, Any]:
        def rounded(a: np.ndarray) -> list[Any]:
            return np.round(a, 4).tolist()

        return {
            "iou": F1_IOU,
            "thresholds": self.thresholds.tolist(),
            "classes": list(self.classes),
            "precision": rounded(self.precision),
            "recall": rounded(self.recall),
            "f1": rounded(self.f1),
            "mean_f1": rounded(self.mean_f1),
            "best_threshold": float(self.thresholds[self.best]),
        }


def f1_curves(
    state: CocoEvalState, class_names: dict[int, str], thresholds: np.ndarray = THRESHOLDS
) -> F1Curves:
    """Curves over the state's categories (those with ground truth); ``class_names`` maps
    category ids to names. Precision with no detection left is 1 (Ultralytics' convention)."""
    t = int(np.flatnonzero(np.isclose(state.iou_thresholds, F1_IOU))[0])
    n_cat = len(state.cat_ids)
    precision = np.ones((n_cat, len(thresholds)))
    recall = np.zeros((n_cat, len(thresholds)))
    for k in range(n_cat):
        lo, hi = int(state.det_start[k]), int(state.det_start[k + 1])
        counted = ~state.det_ignore[t, lo:hi]
        scores = state.det_score[lo:hi][counted].astype(np.float64)
        tp = state.det_match[t, lo:hi][counted]
        kept = scores[None, :] >= thresholds[:, None]  # (T, D)
        n_det = kept.sum(axis=1)
        n_tp = (kept & tp[None, :]).sum(axis=1)
        n_gt = state.num_gt[k].sum()
        precision[k] = np.where(n_det > 0, n_tp / np.maximum(n_det, 1), 1.0)
        recall[k] = n_tp / n_gt
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    names = [class_names[int(c)] for c in state.cat_ids]
    return F1Curves(np.asarray(thresholds, dtype=np.float64), names, precision, recall, f1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes, (len(a), len(b))."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def detection_confusion(
    preds: ValPredictions, score_threshold: float, iou: float = F1_IOU
) -> np.ndarray:
    """(K + 1, K + 1) counts, rows the labelled class and columns the predicted one; the last
    row and column are background. Crowd regions are matched but not counted."""
    n = len(preds.classes)
    matrix = np.zeros((n + 1, n + 1), dtype=np.int64)
    for i in range(preds.n_images):
        g = np.flatnonzero(preds.gt_image == i)
        d = np.flatnonzero((preds.det_image == i) & (preds.det_score >= score_threshold))
        overlap = box_iou(preds.gt_box[g], preds.det_box[d])
        pairs = np.argwhere(overlap >= iou)
        pairs = pairs[np.argsort(-overlap[pairs[:, 0], pairs[:, 1]], kind="stable")]
        gt_done, det_done = set(), set()
        for gi, di in pairs.tolist():
            if gi in gt_done or di in det_done:
                continue
            gt_done.add(gi)
            det_done.add(di)
            if not preds.gt_crowd[g[gi]]:
                matrix[preds.gt_label[g[gi]], preds.det_label[d[di]]] += 1
        for gi in set(range(len(g))) - gt_done:
            if not preds.gt_crowd[g[gi]]:
                matrix[preds.gt_label[g[gi]], n] += 1
        for di in set(range(len(d))) - det_done:
            matrix[n, preds.det_label[d[di]]] += 1
    return matrix


def confusion_json(
    matrix: np.ndarray, classes: list[str], unit: str, background: bool, how: str
) -> dict[str, Any]:
    """A confusion matrix as stored in a trial's curves: rows labelled, columns predicted."""
    labels = [*classes, "background"] if background else list(classes)
    return {
        "labels": labels,
        "rows": "labelled class",
        "columns": "predicted class",
        "unit": unit,
        "matching": how,
        "matrix": np.asarray(matrix).astype(np.int64).tolist(),
    }
