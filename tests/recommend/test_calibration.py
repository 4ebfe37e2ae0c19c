"""Calibration of the verdict, measured by simulation (no training).

Two options are scored on the same simulated validation images. Each option's seeds differ by a
known training-noise effect; the options differ by a known true effect (zero for the A/A case).
Per-image states are real two-class confusion counts, scored to mIoU exactly as a semantic
evaluator would, but vectorised so that 1,000 simulations run in seconds. The rule under test is
the engine's: the leader (higher mean) is ``clear`` when the lower end of its difference's
interval is above zero.

Measured rates (printed with ``pytest -s``) are quoted in the README's verdict section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from benchsel.recommend.evidence import compare, resample_states

IMAGES = 60
PIXELS = 400
SIMULATIONS = 1000
RESAMPLES = 400
SEED_SD = 0.25  # training noise, on the logit of per-pixel accuracy
IMAGE_SD = 0.8  # how hard each image is (shared by every model: paired images)
INTERACTION_SD = 0.15  # a seed's own luck on an image


@dataclass(frozen=True, eq=False)
class TwoClassState:
    """Per-image confusion counts of a two-class segmentation, scored to mIoU like
    :class:`benchsel.evaluation.bootstrap.SemanticEvalState` (weights = image multiplicities)."""

    image_ids: np.ndarray
    counts: np.ndarray  # (images, 4): gt0->0, gt0->1, gt1->0, gt1->1

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    def score_batch(self, weights: np.ndarray, metrics: list[str]) -> dict[str, np.ndarray]:
        c = np.asarray(weights, dtype=float) @ self.counts
        iou0 = c[:, 0] / (c[:, 0] + c[:, 1] + c[:, 2])
        iou1 = c[:, 3] / (c[:, 3] + c[:, 2] + c[:, 1])
        return {"mIoU": (iou0 + iou1) / 2}

    def score(self, weights: np.ndarray) -> dict[str, float]:
        return {k: float(v[0]) for k, v in self.score_batch(weights[None, :], ["mIoU"]).items()}


def _option_states(
    rng: np.random.Generator, quality: float, seeds: int, image_effect: np.ndarray, gt0: np.ndarray
) -> list[TwoClassState]:
    states = []
    for _ in range(seeds):
        seed_quality = quality + rng.normal(0, SEED_SD)
        logit = seed_quality + image_effect + rng.normal(0, INTERACTION_SD, IMAGES)
        acc = 1 / (1 + np.exp(-logit))
        right0 = rng.binomial(gt0, acc)
        right1 = rng.binomial(PIXELS - gt0, acc)
        counts = np.column_stack([right0, gt0 - right0, PIXELS - gt0 - right1, right1])
        states.append(TwoClassState(np.arange(IMAGES), counts.astype(float)))
    return states


def clear_rate(seeds: int, true_difference: float, simulations: int = SIMULATIONS) -> float:
    """How often the leader of two options is called clearly better."""
    rng = np.random.default_rng(1000 + seeds)
    clear = 0
    for _ in range(simulations):
        image_effect = rng.normal(0, IMAGE_SD, IMAGES)
        gt0 = rng.integers(PIXELS // 4, 3 * PIXELS // 4, IMAGES)
        states = {
            "a": _option_states(rng, 1.0 + true_difference, seeds, image_effect, gt0),
            "b": _option_states(rng, 1.0, seeds, image_effect, gt0),
        }
        samples = resample_states(
            states,  # type: ignore[arg-type]
            {"a": "mIoU", "b": "mIoU"},
            n_resamples=RESAMPLES,
        )
        a, b = samples["a"], samples["b"]
        leader, other = (a, b) if a.mean >= b.mean else (b, a)
        cmp = compare(leader, other)
        assert cmp is not None and cmp.training_noise == (
            "measured" if seeds > 1 else "not_measured"
        )
        clear += cmp.a_clearly_better
    return clear / simulations


def _mc_error(p: float, n: int) -> float:
    return 2 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_no_true_difference_is_clear_at_most_five_percent(seeds):
    rate = clear_rate(seeds, 0.0)
    print(f"A/A, {seeds} seeds: clear in {rate:.1%} of {SIMULATIONS}")
    assert rate <= 0.05 + _mc_error(0.05, SIMULATIONS)


def test_three_seed_sds_is_found_at_five_seeds():
    rate = clear_rate(5, 3 * SEED_SD)
    print(f"difference 3 seed SDs, 5 seeds: clear in {rate:.1%} of {SIMULATIONS}")
    assert rate >= 0.80


def test_one_seed_each_ignores_training_noise_and_is_overconfident():
    """What the old verdict did: with one run each and a real seed effect, image-only intervals
    call an A/A pair clear far more often than 5% (the reason seeds must be in the evidence)."""
    rate = clear_rate(1, 0.0, simulations=300)
    print(f"A/A, 1 seed (images only): clear in {rate:.1%} of 300")
    assert rate > 0.10
