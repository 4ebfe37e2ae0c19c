"""Bootstrap intervals and paired bootstrap comparisons over validation images.

Resampling the images with replacement gives percentile intervals (``bootstrap_intervals``);
resampling two trials' states with the same draws, images paired by id, gives the interval of
their difference (``paired_bootstrap``). ``percentile_interval`` is the one percentile rule, used
here, by the boundary metric and by the verdicts' seed resampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from benchsel.evaluation.coco import CocoEvalState
from benchsel.evaluation.panoptic import PanopticEvalState
from benchsel.evaluation.semantic import SemanticEvalState
from benchsel.evaluation.state import MIN_DEFINED_FRACTION, decode_state

EvalState = CocoEvalState | SemanticEvalState | PanopticEvalState


def state_from_bytes(data: bytes) -> EvalState:
    """Any state from its ``to_bytes`` output."""
    return cast(EvalState, decode_state(data))


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
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = percentile_interval(
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
    lo, hi = percentile_interval(diff, level, n_resamples)
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


def percentile_interval(values: np.ndarray, level: float, n_resamples: int) -> tuple[float, float]:
    defined = values[~np.isnan(values)]
    if len(defined) < max(2, MIN_DEFINED_FRACTION * n_resamples):
        return float("nan"), float("nan")
    lo, hi = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
