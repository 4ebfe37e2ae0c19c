"""Boundary IoU against independent computations: boundary-iou-api's cv2 erosion, brute-force
Chebyshev distances, scipy's chessboard distance transform, hand-counted masks, and a bootstrap
that re-evaluates copies of the resampled images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchsel.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_weights
from benchsel.evaluation.boundary import (
    BOUNDARY_DILATION_RATIO,
    BoundaryIoUEvaluator,
    boundary_width,
    label_boundaries,
)
from benchsel.predictions import SemanticMap

VOID = 255


def _reference_mask_to_boundary(mask: np.ndarray, dilation_ratio: float) -> np.ndarray:
    """boundary-iou-api's ``mask_to_boundary`` (boundary_iou/utils/boundary_utils.py)."""
    import cv2

    mask = mask.astype(np.uint8)
    h, w = mask.shape
    dilation = max(1, round(float(dilation_ratio * np.sqrt(h**2 + w**2))))
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), dtype=np.uint8), iterations=dilation)
    return (mask - eroded[1 : h + 1, 1 : w + 1]).astype(bool)


def _brute_force_boundary(mask: np.ndarray, d: int, void: np.ndarray) -> np.ndarray:
    """Mask pixels with a pixel that is neither mask nor void, or the outside of the image,
    within Chebyshev distance d."""
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            y0, y1, x0, x1 = y - d, y + d + 1, x - d, x + d + 1
            outside = y0 < 0 or x0 < 0 or y1 > h or x1 > w
            window = (mask | void)[max(0, y0) : y1, max(0, x0) : x1]
            out[y, x] = outside or not window.all()
    return out


def _distance_transform_boundary(mask: np.ndarray, d: int, void: np.ndarray) -> np.ndarray:
    """Mask pixels whose chessboard distance to the nearest pixel that is neither mask nor void
    (zero padding included) is at most d."""
    from scipy import ndimage

    padded = np.pad(mask | void, 1, constant_values=False)
    dist = ndimage.distance_transform_cdt(padded, metric="chessboard")[1:-1, 1:-1]
    return mask & (dist <= d)


def _reference_boundary(mask: np.ndarray, void: np.ndarray, ratio: float) -> np.ndarray:
    """The reference's boundary with void transparent: a mask pixel is eroded away only by a
    pixel that is neither mask nor void, so erode mask | void and keep the mask's pixels."""
    return _reference_mask_to_boundary(mask | void, ratio) & mask


def _reference_scores(pairs, classes: int, ratio: float = BOUNDARY_DILATION_RATIO):
    """Per-class Boundary IoU over images, one binary mask at a time with the reference."""
    inter, union = np.zeros(classes), np.zeros(classes)
    for gt, pred in pairs:
        void = (gt == VOID) | (gt < 0) | (gt >= classes)
        for c in range(classes):
            g = _reference_boundary((gt == c) & ~void, void, ratio)
            p = _reference_boundary((pred == c) & ~void, void, ratio)
            inter[c] += (g & p).sum()
            union[c] += (g | p).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, np.nan)
    return iou, (float(np.nanmean(iou)) if (union > 0).any() else math.nan)


def _random_maps(rng: np.random.Generator, shape, classes: int, void: float = 0.1):
    """Blocky label maps (edges long enough for interiors) with void sprinkled in the GT."""
    h, w = shape
    small = rng.integers(0, classes, size=(h // 4 + 1, w // 4 + 1))
    gt = np.kron(small, np.ones((4, 4), dtype=np.int64))[:h, :w]
    pred = gt.copy()
    flip = rng.random(shape) < 0.15
    pred[flip] = rng.integers(0, classes, size=int(flip.sum()))
    gt = np.where(rng.random(shape) < void, VOID, gt)
    return gt, pred


def _evaluate(pairs, classes: int):
    ev = BoundaryIoUEvaluator([f"c{k}" for k in range(classes)], VOID)
    for k, (gt, pred) in enumerate(pairs):
        ev.process(gt, SemanticMap(pred), image_id=100 + k)
    return ev, ev.evaluate()


# ---------------------------------------------------------------- the boundary region


@pytest.mark.parametrize(
    ("shape", "width", "void_share"), [((9, 11), 1, 0.0), ((16, 16), 2, 0.2), ((23, 17), 3, 0.1)]
)
def test_label_boundaries_match_independent_definitions(shape, width, void_share):
    rng = np.random.default_rng(width)
    labels, _ = _random_maps(rng, shape, 3, void=0.0)
    labels[rng.random(shape) < 0.05] = 2  # single pixels: boundaries thinner than the band
    void = rng.random(shape) < void_share
    got = label_boundaries(labels, width, void)
    ratio = width / math.hypot(*shape)  # so that boundary-iou-api's rounding gives ``width``
    assert boundary_width(*shape, ratio) == width
    assert not (got & void).any()
    for c in range(3):
        mask = (labels == c) & ~void
        expected = _brute_force_boundary(mask, width, void)
        np.testing.assert_array_equal(got & mask, expected)
        np.testing.assert_array_equal(_distance_transform_boundary(mask, width, void), expected)
        np.testing.assert_array_equal(_reference_boundary(mask, void, ratio), expected)
    if not void.any():  # without void: boundary-iou-api's function itself, class by class
        for c in range(3):
            np.testing.assert_array_equal(
                got & (labels == c), _reference_mask_to_boundary(labels == c, ratio)
            )


def test_width_is_two_percent_of_the_diagonal_rounded_at_least_one():
    assert boundary_width(20, 20) == 1  # 0.57 -> 1
    assert boundary_width(128, 128) == 4  # 3.62
    assert boundary_width(360, 480) == 12  # 0.02 x 600
    assert boundary_width(512, 1024) == 23  # 22.9


# ---------------------------------------------------------------- the metric


def test_random_maps_with_void_match_the_reference_implementation():
    rng = np.random.default_rng(3)
    pairs = [_random_maps(rng, shape, 4) for shape in ((40, 56), (64, 64), (33, 80))]
    pairs[1][1][:, :] = np.where(pairs[1][1] == 3, VOID, pairs[1][1])  # void in a prediction too
    ev, metrics = _evaluate(pairs, 4)
    per_class, mean = _reference_scores(pairs, 4)
    for c in range(4):
        assert metrics[f"boundary_IoU/c{c}"] == pytest.approx(per_class[c], abs=1e-12)
    assert metrics["boundary_IoU"] == pytest.approx(mean, abs=1e-12)
    assert ev.state is not None and list(ev.state.image_ids) == [100, 101, 102]
    assert list(ev.state.width_px) == [1, 2, 2]  # 1.38, 1.81, 1.73 rounded


def test_hand_counted_square_shifted_two_pixels():
    """20x20 (d = 1): a 10x10 square of class 1 on class 0, predicted 2 pixels to the right.

    Class 1: each ring has 100 - 64 = 36 pixels; they share the top and bottom rows over
    columns 7..14 (16 pixels): 16 / (36 + 36 - 16) = 2/7. Class 0: the image border ring (76)
    plus the ring around the square (144 - 100 = 44) in each; shared: the border ring and
    rows 4 and 15 over columns 6..15 (20): 96 / (120 + 120 - 96) = 2/3.
    """
    gt = np.zeros((20, 20), dtype=np.int64)
    gt[5:15, 5:15] = 1
    pred = np.zeros_like(gt)
    pred[5:15, 7:17] = 1
    _, metrics = _evaluate([(gt, pred)], 2)
    assert metrics["boundary_IoU/c1"] == pytest.approx(2 / 7)
    assert metrics["boundary_IoU/c0"] == pytest.approx(2 / 3)
    assert metrics["boundary_IoU"] == pytest.approx((2 / 7 + 2 / 3) / 2)


def test_predictions_on_void_pixels_do_not_count_and_absent_classes_are_nan():
    gt = np.zeros((20, 20), dtype=np.int64)
    gt[5:15, 5:15] = 1
    pred = gt.copy()
    pred[5, 5:15] = 0  # wrong only on the square's top row ...
    gt_void = gt.copy()
    gt_void[5, 5:15] = VOID  # ... which is void: right on every pixel that counts
    _, wrong = _evaluate([(gt, pred)], 3)
    _, voided = _evaluate([(gt_void, pred)], 3)
    assert wrong["boundary_IoU/c1"] < 1.0
    assert voided["boundary_IoU/c1"] == voided["boundary_IoU/c0"] == 1.0
    assert math.isnan(voided["boundary_IoU/c2"])  # in neither map
    assert voided["boundary_IoU"] == 1.0

    rng = np.random.default_rng(9)
    gt, pred = _random_maps(rng, (40, 40), 3, void=0.2)
    other = pred.copy()
    void = gt == VOID
    other[void] = rng.integers(0, 4, size=int(void.sum()))  # 3: out of range
    _, first = _evaluate([(gt, pred)], 3)
    _, second = _evaluate([(gt, other)], 3)
    assert first == second


def test_perfect_prediction_scores_one_and_no_images_nan():
    rng = np.random.default_rng(5)
    pairs = [(gt, np.where(gt == VOID, 0, gt)) for gt, _ in (_random_maps(rng, (48, 48), 3),)]
    _, metrics = _evaluate(pairs, 3)
    assert metrics["boundary_IoU"] == 1.0
    assert all(metrics[f"boundary_IoU/c{c}"] == 1.0 for c in range(3))
    empty, metrics = _evaluate([], 3)
    assert math.isnan(metrics["boundary_IoU"])
    assert math.isnan(empty.state.intervals()["boundary_IoU_ci_low"])


def test_a_small_shift_costs_boundary_iou_far_more_than_miou():
    """Large regions shifted 3 pixels: mIoU barely moves, Boundary IoU drops (the point of
    the metric: it is sensitive to boundary quality in large objects)."""
    from benchsel.evaluation.semantic import SemanticEvaluator

    gt = np.zeros((128, 128), dtype=np.int64)
    gt[20:100, 16:96] = 1
    gt[60:120, 70:124] = 2
    pred = np.roll(gt, 3, axis=1)
    sem = SemanticEvaluator(["c0", "c1", "c2"], VOID)
    sem.process(gt, pred)
    miou = sem.evaluate()["mIoU"]
    _, metrics = _evaluate([(gt, pred)], 3)
    biou = metrics["boundary_IoU"]
    _, mean = _reference_scores([(gt, pred)], 3)
    assert biou == pytest.approx(mean)
    assert 1 - miou < 0.1
    assert 1 - biou > 3 * (1 - miou)


# ---------------------------------------------------------------- intervals


def test_interval_equals_re_evaluating_the_resampled_images():
    """Each resample's score from the kept counts equals a fresh evaluation of the drawn
    images (copies included); the interval is the percentile of those."""
    rng = np.random.default_rng(7)
    pairs = [_random_maps(rng, (24 + 4 * k, 32), 3) for k in range(6)]
    ev, _ = _evaluate(pairs, 3)
    assert ev.state is not None
    n_resamples, seed = 40, 11
    weights = bootstrap_weights(len(pairs), n_resamples, seed)
    scores = []
    for row in weights:
        drawn = [pairs[i] for i in range(len(pairs)) for _ in range(int(row[i]))]
        scores.append(_reference_scores(drawn, 3)[1])
    batch = ev.state.score_batch(weights)["boundary_IoU"]
    np.testing.assert_allclose(batch, scores, rtol=1e-12)
    ci = ev.state.intervals(n_resamples=n_resamples, seed=seed)
    lo, hi = np.quantile(scores, [0.025, 0.975])
    assert ci["boundary_IoU_ci_low"] == pytest.approx(lo)
    assert ci["boundary_IoU_ci_high"] == pytest.approx(hi)
    per_class = ev.state.intervals(per_class=True)
    assert {"boundary_IoU/c0_ci_low", "boundary_IoU/c2_ci_high"} <= set(per_class)
    default = ev.state.intervals()
    assert default["boundary_IoU_ci_low"] <= ev.state.score()["boundary_IoU"]
    assert default["boundary_IoU_ci_high"] >= ev.state.score()["boundary_IoU"]
    assert (BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED) == (1000, 0)  # the defaults used above


# ---------------------------------------------------------------- evaluate_model


class _Oracle:
    """Predicts the ground truth (shifted by ``shift`` pixels), image by image in val order."""

    def __init__(self, maps: list[np.ndarray], shift: int) -> None:
        self._maps, self._shift = iter(maps), shift

    def predict(self, images):
        gt = next(self._maps)
        return [SemanticMap(np.roll(np.where(gt == VOID, 0, gt), self._shift, axis=1))]


@pytest.fixture(scope="module")
def sample_val(tmp_path_factory):
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.suite import parse_suite

    work: Path = tmp_path_factory.mktemp("boundary")
    suite = parse_suite(
        {
            "name": "b",
            "dataset": {"sample": {"images": 16, "size": 96}},
            "candidates": [{"id": "unet-s5-d16", "task": "semantic"}],
            "output": str(work / "out"),
        }
    )
    prepared = prepare(suite, {"semantic"}, RunLayout(work / "work"))
    return prepared.val_dataset("semantic")


@pytest.mark.parametrize("shift", [0, 2])
def test_evaluate_model_reports_boundary_iou_its_interval_and_width(sample_val, shift):
    from benchsel.data.openmmlab import semantic_label_map
    from benchsel.evaluation.driver import evaluate_model

    maps = [semantic_label_map(sample_val, im) for im in sample_val.images]
    result = evaluate_model(_Oracle(maps, shift), "semantic", sample_val)
    classes = len(sample_val.classes)
    pairs = [(m, np.roll(np.where(m == VOID, 0, m), shift, axis=1)) for m in maps]
    per_class, mean = _reference_scores(pairs, classes)
    assert result.metrics["boundary_IoU"] == pytest.approx(mean)
    for name, value in zip(sample_val.classes, per_class, strict=True):
        got = result.metrics[f"boundary_IoU/{name}"]
        assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value)
    if shift == 0:
        assert result.metrics["boundary_IoU"] == 1.0
    else:
        assert 1 - result.metrics["boundary_IoU"] > 2 * (1 - result.metrics["mIoU"])
    cond = result.conditions["boundary_IoU"]
    assert cond["dilation_ratio"] == 0.02
    assert cond["width_px_min"] == cond["width_px_max"] == boundary_width(96, 96) == 3
    ci = result.intervals(per_class=True)
    assert ci["boundary_IoU_ci_low"] <= result.metrics["boundary_IoU"] <= ci["boundary_IoU_ci_high"]
    assert f"boundary_IoU/{sample_val.classes[0]}_ci_high" in ci
    assert "mIoU_ci_low" in ci  # the other intervals are still there
