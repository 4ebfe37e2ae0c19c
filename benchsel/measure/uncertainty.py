"""Per-image evaluation state, bootstrap intervals and paired bootstrap comparisons.

A point estimate from 60 validation images is noisy. Each evaluator in
:mod:`benchsel.measure.accuracy` leaves, after ``evaluate()``, a ``state`` holding what it measured
per image: enough to re-score any reweighting of the images without matching anything again
(an image of weight w counts as w copies of it). Resampling the images with replacement gives
percentile intervals (``bootstrap_intervals``); resampling two trials' states with the same draws,
images paired by id, gives the interval of their difference (``paired_bootstrap``). States are
plain arrays and round-trip through ``to_bytes`` / ``state_from_bytes`` (``.npz``, no pickle),
so they can be stored with a trial's results.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import numpy as np

from benchsel.measure.accuracy import panoptic_quality, semantic_metrics

FORMAT_VERSION = 1
# pycocotools' recall thresholds (Params.setDetParams), computed the same way.
REC_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
# Fewer defined resamples than this fraction (e.g. no ground truth drawn) and there is no interval.
MIN_DEFINED_FRACTION = 0.5
_CHUNK_ELEMENTS = 1 << 20  # resamples x IoU thresholds x detections per vectorised COCO step

_S = TypeVar("_S", bound="_EvalState")


class _EvalState(ABC):
    """What every state shares: weight checks, scoring, (de)serialisation."""

    kind: ClassVar[str]
    image_ids: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    @abstractmethod
    def metric_names(self) -> tuple[str, ...]:
        """Every metric ``score`` gives."""

    @property
    @abstractmethod
    def default_metrics(self) -> tuple[str, ...]:
        """The metrics worth an interval by default."""

    @abstractmethod
    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``metrics`` for each row of checked float ``weights`` (resamples x images)."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The fields as arrays for ``to_bytes``."""

    @classmethod
    @abstractmethod
    def _from_arrays(cls: type[_S], arrays: dict[str, np.ndarray]) -> _S:
        """The inverse of ``_arrays``."""

    def score(self, weights: np.ndarray) -> dict[str, float]:
        """Every metric with image ``i`` counted ``weights[i]`` times (all ones: as evaluated)."""
        batch = self.score_batch(np.asarray(weights)[None, :])
        return {name: float(values[0]) for name, values in batch.items()}

    def score_batch(
        self, weights: np.ndarray, metrics: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """``metrics`` (default: all) for each row of ``weights`` (resamples x images)."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != self.n_images:
            raise ValueError(
                f"weights must have shape (resamples, {self.n_images}), got {weights.shape}"
            )
        if weights.size and (weights.min() < 0 or np.any(weights != np.round(weights))):
            raise ValueError("weights must be non-negative integers (image multiplicities)")
        return self._score(weights, self._check_metrics(metrics))

    def _check_metrics(self, metrics: Sequence[str] | None) -> tuple[str, ...]:
        if metrics is None:
            return self.metric_names
        unknown = [m for m in metrics if m not in self.metric_names]
        if unknown:
            raise ValueError(
                f"{self.kind} state has no metric {', '.join(unknown)}; "
                f"it has {', '.join(self.metric_names)}"
            )
        return tuple(metrics)

    def to_bytes(self) -> bytes:
        """The state as a compressed ``.npz`` (read back with ``from_bytes``)."""
        arrays: dict[str, Any] = {
            "kind": np.array(self.kind),
            "format": np.array(FORMAT_VERSION),
            **self._arrays(),
        }
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls: type[_S], data: bytes) -> _S:
        """A state of this class from ``to_bytes`` output."""
        state = state_from_bytes(data)
        if not isinstance(state, cls):
            raise ValueError(f"expected a {cls.kind} state, got a {state.kind} state")
        return state


@dataclass(frozen=True, eq=False)
class CocoEvalState(_EvalState):
    """COCOeval's per-image results for area 'all' and 100 detections, re-accumulable.

    Each category's detections are kept in the order COCOeval accumulates them (descending
    score, ties by image id then rank in the image), so a reweighting needs only weighted
    cumulative sums; precision is interpolated at 101 recall points exactly as pycocotools'
    ``accumulate``. Only categories with non-ignored ground truth are kept: the others have no
    AP (pycocotools' -1) under any reweighting.
    """

    kind: ClassVar[str] = "coco"
    iou_type: str
    image_ids: np.ndarray  # (N,) in the evaluator's image order
    cat_ids: np.ndarray  # (K,)
    iou_thresholds: np.ndarray  # (T,)
    num_gt: np.ndarray  # (K, N) non-ignored ground truth per category and image
    det_start: np.ndarray  # (K + 1,) category k's detections are [det_start[k], det_start[k+1])
    det_image: np.ndarray  # (D,) image index of each detection
    det_score: np.ndarray  # (D,) float32, for reference (the order is what counts)
    det_match: np.ndarray  # (T, D) bool: matched to a ground truth at IoU threshold t
    det_ignore: np.ndarray  # (T, D) bool: ignored at t (matched a crowd or ignored object)

    def __post_init__(self) -> None:
        n_cat, n_det, n_thr = len(self.cat_ids), len(self.det_image), len(self.iou_thresholds)
        if (
            self.num_gt.shape != (n_cat, self.n_images)
            or len(self.det_start) != n_cat + 1
            or self.det_start[-1] != n_det
            or self.det_score.shape != (n_det,)
            or self.det_match.shape != (n_thr, n_det)
            or self.det_ignore.shape != (n_thr, n_det)
        ):
            raise ValueError("inconsistent COCO evaluation state arrays")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(f"{self.iou_type}_{m}" for m in ("AP", "AP50", "AP75"))

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return self.metric_names[:2]

    @cached_property
    def _outcomes(self) -> tuple[np.ndarray, np.ndarray]:
        """True positive, and not ignored, as floats, (T, D) each."""
        counted = ~self.det_ignore
        return (self.det_match & counted).astype(np.float64), counted.astype(np.float64)

    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        n_res, n_thr = len(weights), len(self.iou_thresholds)
        thresholds = {
            f"{self.iou_type}_AP50": np.flatnonzero(np.isclose(self.iou_thresholds, 0.5)),
            f"{self.iou_type}_AP75": np.flatnonzero(np.isclose(self.iou_thresholds, 0.75)),
        }
        n_gt = weights @ self.num_gt.T.astype(np.float64)  # (resamples, K)
        has_gt = n_gt > 0
        per_cat = {m: np.zeros((n_res, len(self.cat_ids))) for m in metrics}
        tp_flag, counted_flag = self._outcomes
        for k in range(len(self.cat_ids)):
            lo, hi = int(self.det_start[k]), int(self.det_start[k + 1])
            rows = np.flatnonzero(has_gt[:, k])
            if hi == lo or not rows.size:
                continue  # no detections: precision 0 at every recall
            step = max(1, _CHUNK_ELEMENTS // (n_thr * (hi - lo)))
            for s in range(0, rows.size, step):
                r = rows[s : s + step]
                precision = _mean_interpolated_precision(
                    weights[np.ix_(r, self.det_image[lo:hi])],
                    tp_flag[:, lo:hi],
                    counted_flag[:, lo:hi],
                    n_gt[r, k],
                )
                for m in metrics:
                    t = thresholds.get(m)
                    per_cat[m][r, k] = (precision if t is None else precision[:, t]).mean(axis=1)
        n_cat = has_gt.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                m: np.where(n_cat > 0, (per_cat[m] * has_gt).sum(axis=1) / n_cat, np.nan)
                for m in metrics
            }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "iou_type": np.array(self.iou_type),
            "image_ids": self.image_ids,
            "cat_ids": self.cat_ids,
            "iou_thresholds": self.iou_thresholds,
            "num_gt": self.num_gt.astype(np.int32),
            "det_start": self.det_start,
            "det_image": self.det_image.astype(np.int32),
            "det_score": self.det_score.astype(np.float32),
            "det_match_bits": np.packbits(self.det_match, axis=1),
            "det_ignore_bits": np.packbits(self.det_ignore, axis=1),
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> CocoEvalState:
        n_det = len(arrays["det_image"])

        def flags(bits: np.ndarray) -> np.ndarray:
            return np.unpackbits(bits, axis=1, count=n_det).astype(bool)

        return cls(
            iou_type=str(arrays["iou_type"]),
            image_ids=arrays["image_ids"].astype(np.int64),
            cat_ids=arrays["cat_ids"].astype(np.int64),
            iou_thresholds=arrays["iou_thresholds"].astype(np.float64),
            num_gt=arrays["num_gt"].astype(np.int64),
            det_start=arrays["det_start"].astype(np.int64),
            det_image=arrays["det_image"].astype(np.int64),
            det_score=arrays["det_score"],
            det_match=flags(arrays["det_match_bits"]),
            det_ignore=flags(arrays["det_ignore_bits"]),
        )


def _mean_interpolated_precision(
    weights: np.ndarray, tp_flag: np.ndarray, counted_flag: np.ndarray, n_gt: np.ndarray
) -> np.ndarray:
    """pycocotools' interpolated precision averaged over the recall thresholds, (resamples, T).

    ``weights`` (resamples, D) are the multiplicities of one category's detections in
    accumulation order, ``tp_flag`` / ``counted_flag`` (T, D) whether each is a true positive /
    not ignored, ``n_gt`` (resamples,) the category's non-ignored ground truth, all positive.
    Copies of a detection are adjacent in the sorted list of the copied data and only the last
    copy's precision can count (copies of a true positive raise it, of a false positive lower
    it), so weighted cumulative sums reproduce accumulate() on the copies: exactly, unless one
    image has two detections of the category with equal scores.
    """
    tp = np.cumsum(weights[:, None, :] * tp_flag, axis=2)
    if counted_flag.all():
        counted = np.cumsum(weights, axis=1)[:, None, :]
    else:
        counted = np.cumsum(weights[:, None, :] * counted_flag, axis=2)
    precision = tp / (counted + np.spacing(1))  # tp + fp, as pycocotools: tp / (fp + tp + eps)
    reversed_view = precision[..., ::-1]
    np.maximum.accumulate(reversed_view, axis=2, out=reversed_view)  # precision envelope
    # Recall threshold r takes the envelope at the first detection whose recall reaches it
    # (searchsorted 'left' in pycocotools). Recall never decreases, so detection j is first for
    # the thresholds it reaches and detection j - 1 does not. Recall is tp / n_gt with integer
    # tp, so the thresholds reached are looked up per row.
    reached_at = np.searchsorted(
        REC_THRESHOLDS, np.arange(int(tp.max()) + 1) / n_gt[:, None], side="right"
    )
    reached = np.take_along_axis(reached_at[:, None, :], tp.astype(np.intp), axis=2)
    newly = np.diff(reached, axis=2, prepend=0)
    return np.einsum("rtd,rtd->rt", precision, newly) / len(REC_THRESHOLDS)


@dataclass(frozen=True, eq=False)
class SemanticEvalState(_EvalState):
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


@dataclass(frozen=True, eq=False)
class PanopticEvalState(_EvalState):
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


EvalState = CocoEvalState | SemanticEvalState | PanopticEvalState
_KINDS: dict[str, type[EvalState]] = {
    c.kind: c for c in (CocoEvalState, SemanticEvalState, PanopticEvalState)
}


def state_from_bytes(data: bytes) -> EvalState:
    """Any state from its ``to_bytes`` output."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    kind, version = str(arrays.pop("kind", "")), int(arrays.pop("format", -1))
    if kind not in _KINDS or version != FORMAT_VERSION:
        raise ValueError(f"not a benchsel evaluation state (kind {kind!r}, format {version})")
    return _KINDS[kind]._from_arrays(arrays)


# ---------------------------------------------------------------- bootstrap

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
INTERVAL_METHOD = (
    f"95% percentile bootstrap over validation images, {BOOTSTRAP_RESAMPLES} resamples, "
    f"seed {BOOTSTRAP_SEED}; COCO AP re-accumulated from per-image matches"
)
# Metric key -> (evaluation whose state scores it, the state's name for it).
STATE_OF_METRIC: dict[str, tuple[str, str]] = {
    "bbox_AP": ("bbox", "bbox_AP"),
    "bbox_AP50": ("bbox", "bbox_AP50"),
    "segm_AP": ("segm", "segm_AP"),
    "segm_AP50": ("segm", "segm_AP50"),
    "mIoU": ("semantic", "mIoU"),
    "semantic_mIoU": ("semantic", "mIoU"),
    "PQ": ("panoptic", "PQ"),
}


def bootstrap_weights(n_images: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples, images) multiplicities of ``n_images`` drawn with replacement, seeded."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    draws += (np.arange(n_resamples) * n_images)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_resamples * n_images)
    return counts.reshape(n_resamples, n_images)


def bootstrap_intervals(
    state: EvalState,
    metrics: Sequence[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Percentile intervals ``<metric>_ci_low`` / ``<metric>_ci_high`` from one set of resamples.

    ``metrics`` defaults to ``state.default_metrics``. A resample where a metric is undefined
    (NaN, e.g. no ground truth drawn) is dropped; with fewer than ``MIN_DEFINED_FRACTION`` of
    the resamples left, or no images, the interval is NaN.
    """
    _check_bootstrap(n_resamples, level)
    names = state._check_metrics(state.default_metrics if metrics is None else metrics)
    if not state.n_images:
        return {f"{name}_ci_{end}": float("nan") for name in names for end in ("low", "high")}
    scores = state.score_batch(bootstrap_weights(state.n_images, n_resamples, seed), names)
    out: dict[str, float] = {}
    for name in names:
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = _percentile_interval(
            scores[name], level, n_resamples
        )
    return out


def bootstrap_interval(
    state: EvalState, metric: str, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of one metric, resampling images with replacement."""
    out = bootstrap_intervals(state, [metric], n_resamples, seed, level)
    return out[f"{metric}_ci_low"], out[f"{metric}_ci_high"]


@dataclass(frozen=True)
class PairedResult:
    """Trial a minus trial b on the same images, with its bootstrap distribution."""

    metric: str
    difference: float  # observed a - b over all images
    ci_low: float  # percentile interval of the resampled difference
    ci_high: float
    prob_a_better: float  # fraction of resamples where a > b
    n_resamples: int  # resamples where both were defined
    level: float


def paired_bootstrap(
    state_a: EvalState,
    state_b: EvalState,
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedResult:
    """Compare two trials evaluated on the same images: each resample weights both alike.

    Images are paired by id; a ``ValueError`` if the two image sets differ. Without images
    every number is NaN.
    """
    _check_bootstrap(n_resamples, level)
    for state in (state_a, state_b):
        state._check_metrics([metric])
    b_columns = _pair_images(state_a.image_ids, state_b.image_ids)
    if not state_a.n_images:
        nan = float("nan")
        return PairedResult(metric, nan, nan, nan, nan, 0, level)
    ones = np.ones(state_a.n_images)
    observed = state_a.score(ones)[metric] - state_b.score(ones)[metric]
    weights = bootstrap_weights(state_a.n_images, n_resamples, seed)
    diff = (
        state_a.score_batch(weights, [metric])[metric]
        - state_b.score_batch(weights[:, b_columns], [metric])[metric]
    )
    lo, hi = _percentile_interval(diff, level, n_resamples)
    defined = diff[~np.isnan(diff)]
    return PairedResult(
        metric=metric,
        difference=float(observed),
        ci_low=lo,
        ci_high=hi,
        prob_a_better=float(np.mean(defined > 0)) if not np.isnan(lo) else float("nan"),
        n_resamples=len(defined),
        level=level,
    )


def _pair_images(ids_a: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """For each image of b, its index in a."""
    for name, ids in (("a", ids_a), ("b", ids_b)):
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"state {name} lists an image id more than once")
    position = {int(i): k for k, i in enumerate(ids_a)}
    only_b = [int(i) for i in ids_b if int(i) not in position]
    if only_b or len(ids_a) != len(ids_b):
        raise ValueError(
            f"the two states were evaluated on different images ({len(ids_a)} and "
            f"{len(ids_b)} images, {len(only_b)} of b's not in a): pair trials on one val split"
        )
    return np.asarray([position[int(i)] for i in ids_b], dtype=np.int64)


def _check_bootstrap(n_resamples: int, level: float) -> None:
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def _percentile_interval(values: np.ndarray, level: float, n_resamples: int) -> tuple[float, float]:
    defined = values[~np.isnan(values)]
    if len(defined) < max(2, MIN_DEFINED_FRACTION * n_resamples):
        return float("nan"), float("nan")
    lo, hi = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
