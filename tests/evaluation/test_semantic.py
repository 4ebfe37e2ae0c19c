"""Semantic IoU against direct counting on seeded random maps."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.evaluation.semantic import SemanticEvaluator
from benchsel.predictions import SemanticMap
from tests.evaluation.cases import (
    _oracle_semantic,
)

# ---------------------------------------------------------------- semantic


@pytest.mark.parametrize("seed", range(4))
def test_semantic_matches_direct_counting(seed):
    rng = np.random.default_rng(seed)
    n, ignore = 5, 255
    names = [f"c{i}" for i in range(n)]
    gts, preds = [], []
    ev = SemanticEvaluator(names, ignore)
    for _ in range(4):
        g = rng.integers(0, n - 1, (20, 30))  # class 4 never in GT
        g[rng.random(g.shape) < 0.1] = ignore
        p = np.where(rng.random(g.shape) < 0.7, g, rng.integers(0, n, g.shape))
        p[p == ignore] = 0
        if seed == 3:
            p[p == 2] = 1  # class 2 never predicted
        gts.append(g)
        preds.append(p)
        ev.process(g, SemanticMap(p))
    out = ev.evaluate()
    iou, acc, dice, aacc = _oracle_semantic(gts, preds, n, ignore)
    np.testing.assert_allclose([out[f"IoU/c{i}"] for i in range(n)], iou, rtol=1e-12)
    assert out["mIoU"] == pytest.approx(np.nanmean(iou), rel=1e-12)
    assert out["mAcc"] == pytest.approx(np.nanmean(acc), rel=1e-12)
    assert out["mDice"] == pytest.approx(np.nanmean(dice), rel=1e-12)
    assert out["aAcc"] == pytest.approx(aacc, rel=1e-12)


def test_semantic_class_absent_everywhere_is_nan_and_excluded():
    ev = SemanticEvaluator(["a", "b", "c"])
    g = np.array([[0, 0, 1, 1]])
    ev.process(g, np.array([[0, 1, 1, 1]]))
    out = ev.evaluate()
    assert np.isnan(out["IoU/c"])
    assert out["mIoU"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_semantic_void_predictions_count_as_misses():
    ev = SemanticEvaluator(["a", "b"])
    ev.process(np.array([[0, 0, 1, 1]]), np.array([[0, 255, 1, 1]]))
    out = ev.evaluate()
    assert out["IoU/a"] == 0.5 and out["aAcc"] == 0.75
