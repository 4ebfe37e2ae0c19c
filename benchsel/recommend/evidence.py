"""The evidence behind a verdict: bootstrap distributions of each option's accuracy on the
same resamples of the validation images, so any two options can be compared pairwise.

Each option's stored per-image states (one per seed) are re-scored on one shared set of
bootstrap weights (images matched by id); with several seeds the option's score in a resample
is the mean over its seeds. Options without states (older results files) have no samples, and
the engine falls back to their stored intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchsel.measure.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    STATE_OF_METRIC,
    EvalState,
    SemanticEvalState,
    bootstrap_weights,
    state_from_bytes,
)

LEVEL = 0.95
# The smallest score treated as more than an untrained model's (AP and PQ of an untrained
# model are 0; a model whose interval does not clear one point has shown nothing yet).
SIGNAL_FLOOR = 0.01


@dataclass
class Samples:
    """An option's resampled scores (mean over seeds) and the images they cover."""

    values: np.ndarray  # (resamples,)
    n_images: int
    chance: float = 0.0  # score of a model that learnt nothing (majority class for mIoU)
    images: tuple[int, ...] = ()  # the sorted image ids the weights refer to

    def interval(self) -> tuple[float, float]:
        return percentile_interval(self.values)


@dataclass(frozen=True)
class Comparison:
    """Option a minus option b on the same resamples."""

    difference: float  # mean of the resampled differences
    ci_low: float
    ci_high: float
    prob_a_better: float
    n_images: int

    @property
    def a_clearly_better(self) -> bool:
        return self.ci_low > 0


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    defined = values[~np.isnan(values)]
    if len(defined) < max(2, len(values) // 2):
        return math.nan, math.nan
    lo, hi = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _states(blobs: list[bytes]) -> list[EvalState]:
    return [state_from_bytes(b) for b in blobs]


def majority_chance(state: SemanticEvalState) -> float:
    """mIoU of predicting the most frequent class everywhere: its IoU is its pixel share, every
    other class present scores 0."""
    n = len(state.class_names)
    gt = np.bincount(state.entry_cell // n, weights=state.entry_count, minlength=n)
    gt = gt + state.missed.sum(0)
    present = int((gt > 0).sum())
    total = gt.sum()
    return float(gt.max() / total / present) if present and total else 0.0


def resample_all(
    state_blobs: dict[str, list[bytes]], metric_keys: dict[str, str]
) -> dict[str, Samples]:
    """Samples for every option that has states: ``state_blobs`` maps an option's name to its
    seeds' states for the evaluation scoring its metric, ``metric_keys`` to that metric's key
    (``bbox_AP``, ``mIoU``, ...). Options evaluated on the same image set (by id) get the same
    bootstrap weights, so they can be compared pairwise; an option whose seeds disagree on the
    images is left out."""
    out: dict[str, Samples] = {}
    for name, blobs in state_blobs.items():
        if not blobs:
            continue
        states = _states(blobs)
        images = tuple(sorted(int(i) for i in states[0].image_ids))
        if any(tuple(sorted(int(i) for i in s.image_ids)) != images for s in states):
            continue
        position = {image: k for k, image in enumerate(images)}
        weights = bootstrap_weights(len(images), BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
        _evaluation, metric = STATE_OF_METRIC[metric_keys[name]]
        per_seed = []
        for state in states:
            columns = np.asarray([position[int(i)] for i in state.image_ids])
            per_seed.append(state.score_batch(weights[:, columns], [metric])[metric])
        chance = majority_chance(states[0]) if isinstance(states[0], SemanticEvalState) else 0.0
        with np.errstate(all="ignore"):
            values = np.nanmean(np.vstack(per_seed), axis=0)
        out[name] = Samples(values, len(images), chance, images)
    return out


def compare(a: Samples, b: Samples) -> Comparison | None:
    """a minus b, resample by resample; None when they were not scored on the same images."""
    if a.images != b.images:
        return None
    diff = a.values - b.values
    lo, hi = percentile_interval(diff)
    defined = diff[~np.isnan(diff)]
    return Comparison(
        difference=float(np.mean(defined)) if len(defined) else math.nan,
        ci_low=lo,
        ci_high=hi,
        prob_a_better=float(np.mean(defined > 0)) if len(defined) else math.nan,
        n_images=a.n_images,
    )


def metric_state_key(trial_metric: str, primary: str) -> str:
    """The metric a stored state scores for an option: the trial's key (``accuracy`` means the
    task's primary metric)."""
    return primary if trial_metric == "accuracy" else trial_metric
