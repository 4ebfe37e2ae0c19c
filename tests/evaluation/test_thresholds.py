"""F1 against confidence and the detection confusion matrix, against direct counting."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.evaluation.coco import CocoEvaluator
from benchsel.evaluation.thresholds import THRESHOLDS, detection_confusion, f1_curves
from benchsel.evaluation.val_predictions import ValPredictions
from tests.evaluation.cases import _random_case, _random_dets


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _oracle_mean_f1(ds, dets, thresholds) -> np.ndarray:
    """Mean over classes with ground truth of F1 at each threshold: each image's detections of
    a class matched greedily by score to the unmatched object of highest IoU >= 0.5, once;
    a threshold keeps the detections scored at least that much."""
    f1 = []
    for c in sorted({inst.label for im in ds.images for inst in im.instances}):
        scores, hits, n_gt = [], [], 0
        for im in ds.images:
            gts = [np.asarray(i.box) for i in im.instances if i.label == c]
            n_gt += len(gts)
            det = dets[im.id]
            free = list(range(len(gts)))
            for k in sorted(np.flatnonzero(det.labels == c), key=lambda k: -det.scores[k]):
                box = det.boxes[k].astype(np.float64)
                ious = [(_iou(box, gts[g]), g) for g in free]
                best = max(ious, default=(0.0, -1))
                scores.append(float(det.scores[k]))
                hits.append(best[0] >= 0.5)
                if best[0] >= 0.5:
                    free.remove(best[1])
        s, h = np.array(scores), np.array(hits, dtype=bool)
        row = []
        for t in thresholds:
            kept = s >= t
            tp, n = int((kept & h).sum()), int(kept.sum())
            p = tp / n if n else 1.0
            r = tp / n_gt
            row.append(2 * p * r / (p + r) if p + r else 0.0)
        f1.append(row)
    return np.mean(f1, axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_f1_best_threshold_is_the_argmax_of_an_independent_f1_curve(seed):
    ds = _random_case(seed, n_images=10, crowd=False)
    dets = _random_dets(ds, seed + 20)
    ev = CocoEvaluator(ds, "bbox")
    for image_id, det in dets.items():
        ev.process(image_id, det)
    ev.evaluate()
    names = dict(zip(ev.cat_ids, ds.classes, strict=True))
    assert ev.state is not None
    curves = f1_curves(ev.state, names)
    oracle = _oracle_mean_f1(ds, dets, THRESHOLDS)
    np.testing.assert_allclose(curves.mean_f1, oracle, atol=1e-12)
    metrics = curves.metrics()
    assert metrics["f1_best_threshold"] == pytest.approx(THRESHOLDS[int(np.argmax(oracle))])
    assert metrics["f1_best"] == pytest.approx(oracle.max())
    assert 0 < metrics["f1_best"] < 1 and 0 < metrics["f1_best_threshold"] < 1


def test_detection_confusion_counts_classes_background_and_misses():
    circle, square = [10, 10, 40, 40], [50, 50, 90, 90]
    preds = ValPredictions(
        kind="boxes",
        classes=("circle", "square", "triangle"),
        image_ids=np.array([1]),
        image_files=np.array(["a.png"]),
        image_sizes=np.array([[100, 100]]),
        gt_image=np.array([0, 0]),
        gt_id=np.array([1, 2]),
        gt_label=np.array([0, 1]),
        gt_box=np.array([circle, square], dtype=np.float32),
        gt_crowd=np.zeros(2, bool),
        det_image=np.zeros(4, np.int64),
        det_label=np.array([0, 2, 1, 0]),
        det_box=np.array([circle, square, [0, 60, 20, 90], [12, 10, 41, 40]], dtype=np.float32),
        det_score=np.array([0.9, 0.8, 0.7, 0.2], dtype=np.float32),
    )
    m = detection_confusion(preds, 0.5)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = 1  # circle seen as circle
    expected[1, 2] = 1  # square seen as triangle
    expected[3, 1] = 1  # a square where nothing is
    np.testing.assert_array_equal(m, expected)
    high = detection_confusion(preds, 0.85)
    assert high[0, 0] == 1 and high[1, 3] == 1 and high.sum() == 2  # the square now missed
