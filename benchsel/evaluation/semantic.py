"""Semantic segmentation: mIoU / mAcc / aAcc / mDice from a streaming confusion matrix, and the
per-image confusion counts that re-score any resampling of the images (mmseg's conventions)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from benchsel.evaluation.state import EvalStateBase
from benchsel.predictions import SemanticMap


class SemanticEvaluator:
    """mIoU / mAcc / aAcc / mDice and per-class IoU from an accumulated confusion matrix.

    Classes absent from both ground truth and prediction get NaN and are left out of the means
    (mmseg's convention). ``evaluate()`` also sets ``state``: each image's confusion counts.
    """

    def __init__(self, class_names: list[str], ignore_index: int = 255) -> None:
        self.class_names, self.ignore_index = class_names, ignore_index
        self.reset()

    def reset(self) -> None:
        n = len(self.class_names)
        self.confusion = np.zeros((n, n), dtype=np.int64)  # rows: ground truth, cols: prediction
        self.missed = np.zeros(n, dtype=np.int64)  # GT pixels predicted as void / out of range
        self.state: SemanticEvalState | None = None
        self._image_ids: list[int] = []
        self._cells: list[np.ndarray] = []  # per image: nonzero confusion cells (gt * n + pred)
        self._counts: list[np.ndarray] = []  # and their pixel counts
        self._missed: list[np.ndarray] = []

    def process(
        self, gt: np.ndarray, pred: SemanticMap | np.ndarray, image_id: int | None = None
    ) -> None:
        """One image; ``image_id`` names it in ``state`` (default: its position, from 0)."""
        labels = pred.labels if isinstance(pred, SemanticMap) else pred
        if gt.shape != labels.shape:
            raise ValueError(f"prediction {labels.shape} and ground truth {gt.shape} differ")
        n = len(self.class_names)
        keep = (gt != self.ignore_index) & (gt >= 0) & (gt < n)
        g = gt[keep].astype(np.int64)
        p = labels[keep].astype(np.int64)
        valid = (p >= 0) & (p < n)
        cells = np.bincount(g[valid] * n + p[valid], minlength=n * n)
        missed = np.bincount(g[~valid], minlength=n)
        self.confusion += cells.reshape(n, n)
        self.missed += missed
        used = np.flatnonzero(cells)
        self._image_ids.append(len(self._image_ids) if image_id is None else int(image_id))
        self._cells.append(used)
        self._counts.append(cells[used])
        self._missed.append(missed)

    def evaluate(self) -> dict[str, float]:
        n = len(self.class_names)
        self.state = SemanticEvalState(
            class_names=tuple(self.class_names),
            image_ids=np.asarray(self._image_ids, dtype=np.int64),
            entry_image=np.repeat(
                np.arange(len(self._cells), dtype=np.int64), [len(c) for c in self._cells]
            ),
            entry_cell=np.concatenate([np.zeros(0, np.int64), *self._cells]),
            entry_count=np.concatenate([np.zeros(0, np.int64), *self._counts]),
            missed=np.asarray(self._missed, dtype=np.int64).reshape(len(self._missed), n),
        )
        return semantic_metrics(self.confusion, self.class_names, self.missed)


def semantic_metrics(
    confusion: np.ndarray, class_names: list[str], missed: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics from a (gt x pred) confusion matrix; ``missed`` counts unusable predictions."""
    tp = np.diag(confusion).astype(float)
    gt_total = confusion.sum(1).astype(float)
    if missed is not None:
        gt_total = gt_total + missed
    pred_total = confusion.sum(0).astype(float)
    union = gt_total + pred_total - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt_total > 0, tp / gt_total, np.nan)
        dice = np.where(gt_total + pred_total > 0, 2 * tp / (gt_total + pred_total), np.nan)
    total = gt_total.sum()
    out = {
        "mIoU": _nanmean(iou),
        "mAcc": _nanmean(acc),
        "aAcc": float(tp.sum() / total) if total else float("nan"),
        "mDice": _nanmean(dice),
    }
    for name, v in zip(class_names, iou, strict=True):
        out[f"IoU/{name}"] = float(v)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass(frozen=True, eq=False)
class SemanticEvalState(EvalStateBase):
    """Per-image confusion counts (sparse) and missed pixels; metrics by ``semantic_metrics``."""

    kind: ClassVar[str] = "semantic"
    class_names: tuple[str, ...]
    image_ids: np.ndarray  # (N,) in processing order
    entry_image: np.ndarray  # (E,) image index of each nonzero confusion cell
    entry_cell: np.ndarray  # (E,) the cell, gt * n_classes + pred
    entry_count: np.ndarray  # (E,) its pixel count
    missed: np.ndarray  # (N, n_classes) ground-truth pixels predicted void / out of range

    def __post_init__(self) -> None:
        n_entries = len(self.entry_image)
        if (
            self.missed.shape != (self.n_images, len(self.class_names))
            or self.entry_cell.shape != (n_entries,)
            or self.entry_count.shape != (n_entries,)
        ):
            raise ValueError("inconsistent semantic evaluation state arrays")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("mIoU", "mAcc", "aAcc", "mDice", *(f"IoU/{n}" for n in self.class_names))

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return ("mIoU", "mAcc", "aAcc")

    @cached_property
    def _dense(self) -> tuple[np.ndarray, np.ndarray]:
        """The cells used by any image, and an (images, cells) count matrix."""
        cells, column = np.unique(self.entry_cell, return_inverse=True)
        counts = np.zeros((self.n_images, len(cells)))
        counts[self.entry_image, column] = self.entry_count
        return cells, counts

    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        n = len(self.class_names)
        cells, counts = self._dense
        used = weights @ counts
        missed = weights @ self.missed.astype(np.float64)
        out = {m: np.empty(len(weights)) for m in metrics}
        confusion = np.zeros(n * n)
        for i in range(len(weights)):
            confusion[cells] = used[i]
            values = semantic_metrics(confusion.reshape(n, n), list(self.class_names), missed[i])
            for m in metrics:
                out[m][i] = values[m]
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "class_names": np.array(self.class_names, dtype=str),
            "image_ids": self.image_ids,
            "entry_image": self.entry_image.astype(np.int32),
            "entry_cell": self.entry_cell.astype(np.int32),
            "entry_count": self.entry_count,
            "missed": self.missed,
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> SemanticEvalState:
        return cls(
            class_names=tuple(str(n) for n in arrays["class_names"]),
            image_ids=arrays["image_ids"].astype(np.int64),
            entry_image=arrays["entry_image"].astype(np.int64),
            entry_cell=arrays["entry_cell"].astype(np.int64),
            entry_count=arrays["entry_count"].astype(np.int64),
            missed=arrays["missed"].astype(np.int64),
        )
