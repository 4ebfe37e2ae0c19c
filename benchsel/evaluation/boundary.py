"""Boundary IoU for semantic segmentation (Cheng et al., CVPR 2021, "Boundary IoU: Improving
Object-Centric Image Segmentation Evaluation").

The boundary region of a binary mask M is the pixels of M within distance d of its contour,
d = ``dilation_ratio`` x the image diagonal, rounded, at least 1 (the paper's default ratio
0.02). Distance is the Chebyshev distance of the reference implementation (boundary-iou-api's
``mask_to_boundary``: pad by one zero pixel, erode d times with a 3x3 kernel, subtract), so the
image border counts as contour. For each class c, with G the ground truth and P the prediction
masks of c, Boundary IoU is the IoU of their boundary regions G_d ∩ G and P_d ∩ P (G_d: the
pixels within d of G's contour); intersections and unions are accumulated over the data set
like mIoU's. Void ground-truth pixels (and labels
outside the classes) are left out, as mIoU leaves them out: they are in no mask and bound no
mask, in the ground truth or the prediction, so the score never depends on what is predicted
there (the reference has no void). ``boundary_IoU`` is the mean over classes with a nonzero
union (mmseg's mIoU convention).

Per-image, per-class counts are kept (:class:`BoundaryIoUState`) so a bootstrap over images
gives the metric's interval with benchsel's resamples (:mod:`benchsel.evaluation.bootstrap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsel.evaluation.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    bootstrap_weights,
    percentile_interval,
)
from benchsel.predictions import SemanticMap

BOUNDARY_DILATION_RATIO = 0.02  # Cheng et al. 2021's default (boundary-iou-api)
METRIC = "boundary_IoU"
DEFINITION = (
    "Boundary IoU (Cheng et al. 2021) per class: mask pixels within d (Chebyshev) of the "
    "mask's contour or the image border, d = round(dilation_ratio x image diagonal) >= 1; "
    "intersection and union accumulated over images; void ground-truth pixels are in no mask "
    "and bound none (in either map); mean over classes with a nonzero union"
)


def boundary_width(height: int, width: int, dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> int:
    """d in pixels for an image, as boundary-iou-api rounds it (never below 1)."""
    return max(1, round(dilation_ratio * math.sqrt(height**2 + width**2)))


def label_boundaries(
    labels: np.ndarray, width: int, transparent: np.ndarray | None = None
) -> np.ndarray:
    """Pixels within ``width`` (Chebyshev) of a pixel of another value or of the image border:
    for every value v, the boundary region of the mask ``labels == v``, all at once.
    ``transparent`` pixels (void) bound nothing and are in no boundary."""
    import cv2  # OpenCV's separable rectangle morphology: ~20x scipy's min/max filters

    if width < 1:
        raise ValueError(f"boundary width must be at least 1 pixel, got {width}")
    hidden = np.zeros(labels.shape, bool) if transparent is None else transparent
    lowest = int(labels.min(initial=0))
    values = labels.astype(np.int64) - lowest + 1  # from 1; 0 and ``above`` never win
    above = int(values.max(initial=0)) + 1
    if above > np.iinfo(np.uint16).max:
        raise ValueError(f"labels span more than {np.iinfo(np.uint16).max - 1} values")
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * width + 1, 2 * width + 1))
    # Outside the image (a constant border) and on transparent pixels: a value that never wins.
    for_max = np.where(hidden, 0, values).astype(np.uint16)
    for_min = np.where(hidden, above, values).astype(np.uint16)
    high = cv2.dilate(for_max, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    low = cv2.erode(for_min, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=above)
    out: np.ndarray = (high != values) | (low != values)
    out[:width] = out[-width:] = True  # the image border bounds every mask
    out[:, :width] = out[:, -width:] = True
    return out & ~hidden


@dataclass(frozen=True, eq=False)
class BoundaryIoUState:
    """Per-image, per-class boundary intersection and union, re-scorable for any reweighting
    of the images (an image of weight w counts as w copies)."""

    class_names: tuple[str, ...]
    image_ids: np.ndarray  # (N,) in processing order
    intersection: np.ndarray  # (N, classes) pixel counts
    union: np.ndarray  # (N, classes)
    width_px: np.ndarray  # (N,) d of each image
    dilation_ratio: float = BOUNDARY_DILATION_RATIO

    def __post_init__(self) -> None:
        shape = (len(self.image_ids), len(self.class_names))
        if self.intersection.shape != shape or self.union.shape != shape:
            raise ValueError("inconsistent boundary IoU state arrays")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return (METRIC, *(f"{METRIC}/{c}" for c in self.class_names))

    def score_batch(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for each row of ``weights`` (resamples x images)."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != len(self.image_ids):
            raise ValueError(
                f"weights must have shape (resamples, {len(self.image_ids)}), got {weights.shape}"
            )
        inter = weights @ self.intersection.astype(np.float64)
        union = weights @ self.union.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, np.nan)
            defined = (~np.isnan(iou)).sum(axis=1)
            mean = np.where(defined > 0, np.nansum(iou, axis=1) / defined, np.nan)
        out = {METRIC: mean}
        for k, name in enumerate(self.class_names):
            out[f"{METRIC}/{name}"] = iou[:, k]
        return out

    def score(self) -> dict[str, float]:
        """The metrics with every image counted once."""
        batch = self.score_batch(np.ones((1, len(self.image_ids))))
        return {name: float(values[0]) for name, values in batch.items()}

    def intervals(
        self,
        per_class: bool = False,
        n_resamples: int = BOOTSTRAP_RESAMPLES,
        seed: int = BOOTSTRAP_SEED,
        level: float = 0.95,
    ) -> dict[str, float]:
        """``boundary_IoU_ci_low`` / ``_ci_high`` (and per class with ``per_class``): percentile
        bootstrap over images, the resamples of :func:`bootstrap_intervals` for this seed."""
        names = self.metric_names if per_class else (METRIC,)
        if not len(self.image_ids):
            return {f"{n}_ci_{end}": math.nan for n in names for end in ("low", "high")}
        scores = self.score_batch(bootstrap_weights(len(self.image_ids), n_resamples, seed))
        out: dict[str, float] = {}
        for name in names:
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = percentile_interval(
                scores[name], level, n_resamples
            )
        return out

    def conditions(self) -> dict[str, Any]:
        """How the metric was measured, for the stored conditions."""
        widths = self.width_px
        return {
            "metric": METRIC,
            "dilation_ratio": self.dilation_ratio,
            "width_px_min": int(widths.min()) if len(widths) else None,
            "width_px_max": int(widths.max()) if len(widths) else None,
            "definition": DEFINITION,
        }


class BoundaryIoUEvaluator:
    """``process`` one image at a time, then ``evaluate()`` -> metrics; sets ``state``."""

    def __init__(
        self,
        class_names: list[str],
        ignore_index: int = 255,
        dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    ) -> None:
        self.class_names, self.ignore_index = class_names, ignore_index
        self.dilation_ratio = dilation_ratio
        self.state: BoundaryIoUState | None = None
        self._image_ids: list[int] = []
        self._intersection: list[np.ndarray] = []
        self._union: list[np.ndarray] = []
        self._widths: list[int] = []

    def process(
        self, gt: np.ndarray, pred: SemanticMap | np.ndarray, image_id: int | None = None
    ) -> None:
        """One image's label maps (same shape; void and out-of-range labels belong to no
        class); ``image_id`` names it in ``state`` (default: its position, from 0)."""
        labels = pred.labels if isinstance(pred, SemanticMap) else pred
        if gt.shape != labels.shape:
            raise ValueError(f"prediction {labels.shape} and ground truth {gt.shape} differ")
        n = len(self.class_names)
        counted = (gt >= 0) & (gt < n) & (gt != self.ignore_index)  # the pixels mIoU counts
        void = ~counted
        g = np.where(counted, gt, n).astype(np.int32)
        # Out-of-range predictions are one more label (wrong, with edges); on void, nothing.
        p = np.where((labels >= 0) & (labels < n), labels, n).astype(np.int32)
        height, wide = g.shape
        width = boundary_width(height, wide, self.dilation_ratio)
        g_edge = label_boundaries(g, width, void)
        p_edge = label_boundaries(p, width, void) & (p < n)
        both = g_edge & p_edge & (g == p)
        inter = np.bincount(g[both], minlength=n + 1)[:n]
        union = (
            np.bincount(g[g_edge], minlength=n + 1)[:n]
            + np.bincount(p[p_edge], minlength=n + 1)[:n]
            - inter
        )
        self._image_ids.append(len(self._image_ids) if image_id is None else int(image_id))
        self._intersection.append(inter)
        self._union.append(union)
        self._widths.append(width)

    def evaluate(self) -> dict[str, float]:
        """``boundary_IoU`` and ``boundary_IoU/<class>`` over the processed images."""
        n = len(self.class_names)
        self.state = BoundaryIoUState(
            class_names=tuple(self.class_names),
            image_ids=np.asarray(self._image_ids, dtype=np.int64),
            intersection=np.asarray(self._intersection, dtype=np.int64).reshape(-1, n),
            union=np.asarray(self._union, dtype=np.int64).reshape(-1, n),
            width_px=np.asarray(self._widths, dtype=np.int64),
            dilation_ratio=self.dilation_ratio,
        )
        return self.state.score()
