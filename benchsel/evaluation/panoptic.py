"""Panoptic quality as panopticapi's ``pq_compute``, and the per-image, per-class matches that
re-score any resampling of the images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from benchsel.evaluation.state import EvalStateBase
from benchsel.predictions import PanopticPrediction, SemanticMap

OFFSET = 256 * 256 * 256
VOID = 0


@dataclass
class _PQStat:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou: float = 0.0


@dataclass
class PanopticEvaluator:
    """PQ / SQ / RQ overall, for things and stuff, and per class (panopticapi's algorithm).

    ``evaluate()`` also sets ``state``: each image's per-class matches and IoU sums.
    """

    class_names: list[str]
    num_things: int
    stats: dict[int, _PQStat] = field(default_factory=dict)
    state: PanopticEvalState | None = field(default=None, init=False, repr=False, compare=False)
    _images: list[tuple[int, dict[int, _PQStat]]] = field(  # (image id, its stats) per image
        default_factory=list, init=False, repr=False, compare=False
    )

    def reset(self) -> None:
        self.stats = {}
        self.state = None
        self._images = []

    def process(
        self,
        gt_ids: np.ndarray,
        gt_segments: Sequence[tuple[int, int, bool] | tuple[int, int, bool, float | None]],
        pred: PanopticPrediction,
        image_id: int | None = None,
    ) -> None:
        """One image: GT id map with (id, label, iscrowd[, json area]) segments, and the
        prediction. As panopticapi, a ground-truth segment's area in the IoU's union is its
        json ``area`` when given (predictions: their pixel count).

        ``image_id`` names the image in ``state`` (default: its position, from 0).
        """
        stats: dict[int, _PQStat] = {}  # this image's
        pred_ids = pred.segment_map.astype(np.int64)
        if pred_ids.shape != gt_ids.shape:
            raise ValueError(f"prediction {pred_ids.shape} and ground truth {gt_ids.shape} differ")
        gt_ids = gt_ids.astype(np.int64)
        gt_info = {seg[0]: (seg[1], seg[2]) for seg in gt_segments}
        pred_info = {s.id: s.label for s in pred.segments}
        ids, counts = np.unique(gt_ids, return_counts=True)
        gt_area = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        for seg in gt_segments:  # panopticapi: the json area, where the json gives one
            if len(seg) > 3 and seg[3] and seg[0] in gt_area:
                gt_area[seg[0]] = seg[3]
        ids, counts = np.unique(pred_ids, return_counts=True)
        pred_area = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        joint, counts = np.unique(gt_ids * OFFSET + pred_ids, return_counts=True)
        overlap = {
            (int(j // OFFSET), int(j % OFFSET)): int(c) for j, c in zip(joint, counts, strict=True)
        }
        gt_matched: set[int] = set()
        pred_matched: set[int] = set()
        for (g, p), inter in overlap.items():
            if g not in gt_info or p not in pred_info:
                continue
            g_label, g_crowd = gt_info[g]
            if g_crowd or g_label != pred_info[p]:
                continue
            union = pred_area[p] + gt_area[g] - inter - overlap.get((VOID, p), 0)
            iou = inter / union
            if iou > 0.5:
                st = stats.setdefault(g_label, _PQStat())
                st.tp += 1
                st.iou += iou
                gt_matched.add(g)
                pred_matched.add(p)
        crowd_of: dict[int, int] = {}
        for g, (label, crowd) in gt_info.items():
            if g in gt_matched or g not in gt_area:
                continue
            if crowd:
                crowd_of[label] = g
                continue
            stats.setdefault(label, _PQStat()).fn += 1
        for p, label in pred_info.items():
            if p in pred_matched or p not in pred_area:
                continue
            inter = overlap.get((VOID, p), 0)
            if label in crowd_of:
                inter += overlap.get((crowd_of[label], p), 0)
            if inter / pred_area[p] > 0.5:
                continue
            stats.setdefault(label, _PQStat()).fp += 1
        for label, st in stats.items():
            total = self.stats.setdefault(label, _PQStat())
            total.tp, total.fp, total.fn = total.tp + st.tp, total.fp + st.fp, total.fn + st.fn
            total.iou += st.iou
        self._images.append((len(self._images) if image_id is None else int(image_id), stats))

    def evaluate(self) -> dict[str, float]:
        n = len(self.class_names)
        counts = np.zeros((3, n), dtype=np.int64)
        iou = np.zeros(n)
        for label, st in self.stats.items():
            counts[:, label] = st.tp, st.fp, st.fn
            iou[label] = st.iou
        entries = [
            (k, lbl, st) for k, (_, stats) in enumerate(self._images) for lbl, st in stats.items()
        ]
        self.state = PanopticEvalState(
            class_names=tuple(self.class_names),
            num_things=self.num_things,
            image_ids=np.asarray([i for i, _ in self._images], dtype=np.int64),
            entry_image=np.asarray([k for k, _, _ in entries], dtype=np.int64),
            entry_label=np.asarray([lbl for _, lbl, _ in entries], dtype=np.int64),
            entry_counts=np.asarray(
                [(st.tp, st.fp, st.fn) for _, _, st in entries], dtype=np.int64
            ).reshape(len(entries), 3),
            entry_iou=np.asarray([st.iou for _, _, st in entries], dtype=np.float64),
        )
        quality = panoptic_quality(counts[0], counts[1], counts[2], iou, self.num_things)
        out = {
            f"PQ/{self.class_names[lbl]}": float(quality["PQ_per_class"][lbl])
            for lbl in self.stats
            if not np.isnan(quality["PQ_per_class"][lbl])
        }
        for suffix in ("", "_th", "_st"):
            for name in ("PQ", "SQ", "RQ"):
                out[name + suffix] = float(quality[name + suffix])
        return out


def panoptic_quality(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, iou_sum: np.ndarray, num_things: int
) -> dict[str, np.ndarray]:
    """PQ / SQ / RQ (overall, ``_th``, ``_st``) and per-class PQ (``PQ_per_class``) from counts.

    Arrays are ``(..., classes)``: leading axes are batches (e.g. bootstrap resamples). A class
    with no segment in ground truth or prediction has no PQ (NaN) and is left out of the means,
    and a mean over no class is 0, as panopticapi.
    """
    tp, fp, fn, iou_sum = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, iou_sum))
    denom = tp + 0.5 * fp + 0.5 * fn
    present = denom > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(present, iou_sum / denom, np.nan)
        sq = np.where(present, np.where(tp > 0, iou_sum / tp, 0.0), np.nan)
        rq = np.where(present, tp / denom, np.nan)
    is_thing = np.arange(tp.shape[-1]) < num_things
    out = {"PQ_per_class": pq}
    for suffix, pick in (("", True), ("_th", is_thing), ("_st", ~is_thing)):
        chosen = present & pick
        n = chosen.sum(-1)
        for name, values in (("PQ", pq), ("SQ", sq), ("RQ", rq)):
            total = np.where(chosen, values, 0.0).sum(-1)
            out[name + suffix] = np.where(n > 0, total / np.maximum(n, 1), 0.0)
    return out


def panoptic_to_semantic(pred: PanopticPrediction, void_label: int = 255) -> SemanticMap:
    """Per-pixel class of a panoptic prediction (void pixels get ``void_label``)."""
    labels = np.full(pred.segment_map.shape, void_label, dtype=np.int64)
    for seg in pred.segments:
        labels[pred.segment_map == seg.id] = seg.label
    return SemanticMap(labels)


@dataclass(frozen=True, eq=False)
class PanopticEvalState(EvalStateBase):
    """Per-image, per-class (tp, fp, fn, IoU sum), sparse; metrics by ``panoptic_quality``."""

    kind: ClassVar[str] = "panoptic"
    class_names: tuple[str, ...]
    num_things: int
    image_ids: np.ndarray  # (N,) in processing order
    entry_image: np.ndarray  # (E,) image index of each (image, class) with a segment
    entry_label: np.ndarray  # (E,) the class
    entry_counts: np.ndarray  # (E, 3) tp, fp, fn
    entry_iou: np.ndarray  # (E,) IoU sum of the true positives

    def __post_init__(self) -> None:
        n_entries = len(self.entry_image)
        if (
            self.entry_label.shape != (n_entries,)
            or self.entry_counts.shape != (n_entries, 3)
            or self.entry_iou.shape != (n_entries,)
        ):
            raise ValueError("inconsistent panoptic evaluation state arrays")

    @property
    def metric_names(self) -> tuple[str, ...]:
        overall = tuple(m + s for s in ("", "_th", "_st") for m in ("PQ", "SQ", "RQ"))
        return (*overall, *(f"PQ/{n}" for n in self.class_names))

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return ("PQ", "PQ_th", "PQ_st")

    @cached_property
    def _dense(self) -> np.ndarray:
        """(4, images, classes): tp, fp, fn and IoU sum."""
        dense = np.zeros((4, self.n_images, len(self.class_names)))
        dense[:3, self.entry_image, self.entry_label] = self.entry_counts.T
        dense[3, self.entry_image, self.entry_label] = self.entry_iou
        return dense

    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        tp, fp, fn, iou = (weights @ d for d in self._dense)
        quality = panoptic_quality(tp, fp, fn, iou, self.num_things)
        column = {f"PQ/{n}": k for k, n in enumerate(self.class_names)}
        return {
            m: quality["PQ_per_class"][:, column[m]] if m in column else quality[m] for m in metrics
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "class_names": np.array(self.class_names, dtype=str),
            "num_things": np.array(self.num_things),
            "image_ids": self.image_ids,
            "entry_image": self.entry_image.astype(np.int32),
            "entry_label": self.entry_label.astype(np.int32),
            "entry_counts": self.entry_counts.astype(np.int32),
            "entry_iou": self.entry_iou,
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> PanopticEvalState:
        return cls(
            class_names=tuple(str(n) for n in arrays["class_names"]),
            num_things=int(arrays["num_things"]),
            image_ids=arrays["image_ids"].astype(np.int64),
            entry_image=arrays["entry_image"].astype(np.int64),
            entry_label=arrays["entry_label"].astype(np.int64),
            entry_counts=arrays["entry_counts"].astype(np.int64),
            entry_iou=arrays["entry_iou"].astype(np.float64),
        )
