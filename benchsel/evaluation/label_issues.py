"""Label issues: which labels the best model disagrees with, ranked by cleanlab.

A model scored on images it did not train on (the val split) is an independent check of their
labels. For boxes, cleanlab's ObjectLab scores each box: ``missing`` (a confident prediction
no labelled box overlaps: an overlooked object), ``wrong_class`` (a labelled box a confident
prediction of another class sits on) and ``badly_located`` (a labelled box the same class's
predictions overlap only loosely). For class maps, cleanlab's segmentation score ranks whole
images by how much the labelled mask disagrees with the prediction (``mask_disagreement``).
Scores run from 0 (surely wrong) to 1 (fine); lower ranks first.

The model's confidence is not calibrated the way cleanlab's defaults (0.95 / 0.5) assume: a
prediction counts as confident at or above the trial's F1-best threshold, and as a candidate
location above half of it. cleanlab counts a confident prediction as overlooked only when no
labelled box touches it, so an unlabelled object that a labelled neighbour overlaps is missed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.errors import BenchselError
from benchsel.evaluation.val_predictions import ValPredictions
from benchsel.store import TrialRecord

MAP_KIND = "mask_disagreement"
DEFAULT_HIGH_CONFIDENCE = 0.5  # without an F1-best threshold
MAP_SMOOTHING = 0.1  # hard predictions as probabilities: 1 - s on the class, s spread


@dataclass
class LabelIssue:
    """One likely label problem. ``box`` is xyxy pixels: the labelled box, or for ``missing``
    the predicted one; ``class_name`` the labelled class (``missing``: the predicted one) and
    ``predicted`` what the model sees there."""

    task: str
    trial: str
    image: str
    image_id: int
    annotation_id: int | None
    kind: str
    score: float
    class_name: str | None = None
    predicted: str | None = None
    box: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_trials(trials: list[TrialRecord]) -> dict[str, TrialRecord]:
    """Per task, the most accurate finished trial that kept its val predictions."""
    best: dict[str, TrialRecord] = {}
    for t in trials:
        if t.status != "ok" or t.val_predictions is None:
            continue
        acc = t.metrics.get("accuracy")
        if acc is None or not math.isfinite(acc):
            continue
        held = best.get(t.task)
        if held is None or acc > (held.metrics.get("accuracy") or -1.0):
            best[t.task] = t
    return best


def label_issues(
    trials: list[TrialRecord], top: int | None = None, task: str | None = None
) -> list[LabelIssue]:
    """Issues from each task's best trial, ranked by score (lowest first), ``top`` per task."""
    chosen = best_trials(trials)
    if task is not None:
        chosen = {k: v for k, v in chosen.items() if k == task}
    if not chosen:
        raise BenchselError(
            "no finished trial kept its val predictions"
            + (f" for task {task!r}" if task else "")
            + "; run the suite again with this version of benchsel (`benchsel run --fresh`)"
        )
    out: list[LabelIssue] = []
    for name in sorted(chosen):
        t = chosen[name]
        preds = ValPredictions.from_bytes(t.val_predictions or b"")
        if preds.kind == "boxes":
            high = t.metrics.get("f1_best_threshold")
            found = box_issues(preds, high if high else DEFAULT_HIGH_CONFIDENCE)
        else:
            found = map_issues(preds)
        for issue in found[:top] if top else found:
            issue.task, issue.trial = name, t.label
            out.append(issue)
    return out


def _cleanlab_inputs(
    preds: ValPredictions,
) -> tuple[list[dict[str, np.ndarray]], list[list[np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """cleanlab's labels and predictions per image (crowd regions left out), with the index
    of each labelled box in ``gt_*`` and of each predicted box (class-major, as cleanlab
    flattens them) in ``det_*``."""
    n_cls = len(preds.classes)
    labels, predictions, gt_index, det_index = [], [], [], []
    for i in range(preds.n_images):
        g = np.flatnonzero((preds.gt_image == i) & ~preds.gt_crowd)
        labels.append(
            {"bboxes": preds.gt_box[g].astype(np.float64), "labels": preds.gt_label[g].copy()}
        )
        gt_index.append(g)
        d = np.flatnonzero(preds.det_image == i)
        per_class, order = [], []
        for k in range(n_cls):
            dk = d[preds.det_label[d] == k]
            per_class.append(
                np.concatenate([preds.det_box[dk], preds.det_score[dk, None]], axis=1).astype(
                    np.float64
                )
            )
            order.append(dk)
        predictions.append(per_class)
        det_index.append(np.concatenate(order) if order else np.zeros(0, np.int64))
    return labels, predictions, gt_index, det_index


def box_issues(preds: ValPredictions, high_confidence: float) -> list[LabelIssue]:
    """Per-box issues by cleanlab's ObjectLab subtype scores, lowest score first; a labelled box
    with several keeps its lowest."""
    from cleanlab.object_detection.rank import (
        compute_badloc_box_scores,
        compute_overlooked_box_scores,
        compute_swap_box_scores,
    )

    if not preds.n_images:
        return []
    labels, predictions, gt_index, det_index = _cleanlab_inputs(preds)
    high = float(min(max(high_confidence, 1e-3), 0.999))
    low = high / 2
    overlooked = compute_overlooked_box_scores(
        labels=labels, predictions=predictions, high_probability_threshold=high
    )
    swap = compute_swap_box_scores(
        labels=labels, predictions=predictions, high_probability_threshold=high
    )
    badloc = compute_badloc_box_scores(
        labels=labels, predictions=predictions, low_probability_threshold=low
    )
    issues: list[LabelIssue] = []
    for i in range(preds.n_images):
        image = Path(str(preds.image_files[i])).name
        image_id = int(preds.image_ids[i])
        for j, score in enumerate(np.asarray(overlooked[i], dtype=np.float64)):
            if math.isfinite(score) and score < 1:
                d = det_index[i][j]
                name = preds.classes[int(preds.det_label[d])]
                issues.append(
                    LabelIssue(
                        task="",
                        trial="",
                        image=image,
                        image_id=image_id,
                        annotation_id=None,
                        kind="missing",
                        score=float(score),
                        class_name=name,
                        predicted=name,
                        box=preds.det_box[d].round(1).tolist(),
                    )
                )
        for kind, scores in (("wrong_class", swap[i]), ("badly_located", badloc[i])):
            for j, score in enumerate(np.asarray(scores, dtype=np.float64)):
                if not (math.isfinite(score) and score < 1):
                    continue
                g = gt_index[i][j]
                issues.append(
                    LabelIssue(
                        task="",
                        trial="",
                        image=image,
                        image_id=image_id,
                        annotation_id=int(preds.gt_id[g]),
                        kind=kind,
                        score=float(score),
                        class_name=preds.classes[int(preds.gt_label[g])],
                        predicted=_predicted_at(preds, i, preds.gt_box[g], high),
                        box=preds.gt_box[g].round(1).tolist(),
                    )
                )
    issues.sort(key=lambda x: (x.score, x.image_id, x.kind))
    seen: set[tuple[int, int]] = set()  # one issue per labelled box: its most likely one
    kept = []
    for issue in issues:
        if issue.annotation_id is not None:
            key = (issue.image_id, issue.annotation_id)
            if key in seen:
                continue
            seen.add(key)
        kept.append(issue)
    return kept


def _predicted_at(
    preds: ValPredictions, image: int, box: np.ndarray, min_score: float
) -> str | None:
    """The class of the confident prediction that overlaps ``box`` most, if any."""
    from benchsel.evaluation.thresholds import box_iou

    d = np.flatnonzero((preds.det_image == image) & (preds.det_score >= min_score))
    if not len(d):
        return None
    overlap = box_iou(box[None, :], preds.det_box[d])[0]
    best = int(np.argmax(overlap))
    return preds.classes[int(preds.det_label[d[best]])] if overlap[best] > 0 else None


def map_issues(preds: ValPredictions) -> list[LabelIssue]:
    """Images ranked by cleanlab's segmentation label quality (softmin over pixels)."""
    from cleanlab.segmentation.rank import get_label_quality_scores

    n, n_cls = preds.n_images, len(preds.classes)
    if not n:
        return []
    gt = preds.map_gt.astype(np.int64)
    pred = preds.map_pred.astype(np.int64)
    valid = pred < n_cls
    # Void labels carry no claim: score them as agreeing with the prediction.
    labels = np.where(gt < n_cls, gt, np.where(valid, pred, 0))
    probs = np.full((n, n_cls, *gt.shape[1:]), MAP_SMOOTHING / n_cls, dtype=np.float32)
    onehot = np.eye(n_cls, dtype=np.float32)[np.where(valid, pred, 0)]  # (N, H, W, K)
    probs += (1 - MAP_SMOOTHING) * np.moveaxis(onehot, -1, 1) * valid[:, None]
    probs /= probs.sum(axis=1, keepdims=True)
    scores, _ = get_label_quality_scores(labels, probs, method="softmin", verbose=False)
    issues = []
    for i in np.argsort(scores, kind="stable"):
        wrong = (gt[i] < n_cls) & valid[i] & (gt[i] != pred[i])
        labelled = predicted = None
        if wrong.any():
            labelled = preds.classes[int(np.bincount(gt[i][wrong]).argmax())]
            predicted = preds.classes[int(np.bincount(pred[i][wrong]).argmax())]
        issues.append(
            LabelIssue(
                task="",
                trial="",
                image=Path(str(preds.image_files[i])).name,
                image_id=int(preds.image_ids[i]),
                annotation_id=None,
                kind=MAP_KIND,
                score=float(scores[i]),
                class_name=labelled,
                predicted=predicted,
            )
        )
    return issues
