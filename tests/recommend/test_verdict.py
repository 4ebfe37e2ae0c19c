"""The verdict: clear / tie / no_signal from per-image evaluation states of real evaluators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchsel.data.types import Dataset, ImageRecord, Instance
from benchsel.measure.accuracy import CocoEvaluator, SemanticEvaluator
from benchsel.measure.uncertainty import bootstrap_intervals
from benchsel.predictions import Detections
from benchsel.recommend import recommend
from benchsel.recommend.evidence import majority_chance, resample_all
from benchsel.store import TrialRecord
from benchsel.suite import Constraints

CLASSES = ["sky", "grass", "sand"]
IMAGES = 40


def _ground_truth(rng: np.random.Generator) -> list[np.ndarray]:
    """Label maps with a few blocks of each class."""
    maps = []
    for _ in range(IMAGES):
        gt = np.zeros((16, 16), dtype=np.int64)
        gt[rng.integers(0, 8) :, :] = 1
        gt[:, rng.integers(8, 16) :] = 2
        maps.append(gt)
    return maps


def _semantic_trial(
    arch: str, gt_maps: list[np.ndarray], error_rate: float, seed: int, latency: float = 20.0
) -> TrialRecord:
    """A semantic trial whose predictions flip ``error_rate`` of the pixels to a wrong class."""
    rng = np.random.default_rng(seed)
    ev = SemanticEvaluator(CLASSES)
    for image_id, gt in enumerate(gt_maps):
        pred = gt.copy()
        flip = rng.random(gt.shape) < error_rate
        pred[flip] = (gt[flip] + 1) % len(CLASSES)
        ev.process(gt, pred, image_id=image_id)
    metrics = ev.evaluate()
    assert ev.state is not None
    ci = bootstrap_intervals(ev.state, ["mIoU"])
    return _record(
        arch,
        "semantic",
        {
            "accuracy": metrics["mIoU"],
            "accuracy_ci_low": ci["mIoU_ci_low"],
            "accuracy_ci_high": ci["mIoU_ci_high"],
            "latency_e2e_p50_ms": latency,
            "fps": 1000 / latency,
        },
        {"semantic": ev.state.to_bytes()},
        seed,
    )


def _record(arch: str, task: str, metrics: dict, states: dict, seed: int = 0) -> TrialRecord:
    family = {"unet-s5-d16": "unet", "fcn-r50": "fcn", "deeplabv3plus-r50": "deeplabv3plus"}
    return TrialRecord(
        hash=f"{arch}-{seed}",
        suite_name="s",
        arch_id=arch,
        family=family.get(arch, "yolo"),
        task=task,
        variant="default",
        loss=None,
        data_fraction=1.0,
        seed=seed,
        spec={},
        status="ok",
        metrics={"gflops": 10.0, "label_cost_usd": 100.0, "labelled_images": 100.0, **metrics},
        conditions={"device": "cpu", "accuracy": {"val_images": IMAGES}},
        eval_states=states,
    )


@pytest.fixture
def gt_maps() -> list[np.ndarray]:
    return _ground_truth(np.random.default_rng(0))


def test_clearly_better_model_wins_with_clear_verdict(gt_maps):
    trials = [
        _semantic_trial("unet-s5-d16", gt_maps, 0.05, seed=1),
        _semantic_trial("fcn-r50", gt_maps, 0.40, seed=2),
    ]
    rec = recommend(trials, "semantic", Constraints())
    out = rec.to_dict()
    assert out["verdict"] == "clear" and out["tied_with"] == []
    assert out["recommended"]["id"] == "unet-s5-d16"
    loser = next(o for o in rec.ranking if o.id == "fcn-r50")
    assert "paired bootstrap over 40 images" in loser.reasons[0]


def test_equal_models_tie_and_the_faster_one_is_recommended(gt_maps):
    # Same error rate, different noise: equal in expectation, separated only by chance.
    trials = [
        _semantic_trial("unet-s5-d16", gt_maps, 0.20, seed=1, latency=40.0),
        _semantic_trial("fcn-r50", gt_maps, 0.20, seed=2, latency=10.0),
    ]
    rec = recommend(trials, "semantic", Constraints())
    out = rec.to_dict()
    assert out["verdict"] == "tie"
    assert out["recommended"]["id"] == "fcn-r50"  # the faster
    assert out["tied_with"] == ["unet-s5-d16"]
    assert any("faster" in r for r in out["reasons"])


def test_identical_predictions_tie(gt_maps):
    a = _semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=1, latency=30.0)
    b = _semantic_trial("fcn-r50", gt_maps, 0.10, seed=1, latency=30.0)
    assert recommend([a, b], "semantic", Constraints()).verdict == "tie"


def test_constant_prediction_is_no_signal(gt_maps):
    """Predicting the majority class everywhere is what an untrained model can do."""
    ev = SemanticEvaluator(CLASSES)
    counts = np.bincount(np.concatenate([g.ravel() for g in gt_maps]), minlength=3)
    for image_id, gt in enumerate(gt_maps):
        ev.process(gt, np.full_like(gt, int(counts.argmax())), image_id=image_id)
    metrics = ev.evaluate()
    assert ev.state is not None
    # The chance level is computed independently here: IoU of the majority class is its share.
    assert majority_chance(ev.state) == pytest.approx(counts.max() / counts.sum() / 3)
    assert metrics["mIoU"] == pytest.approx(counts.max() / counts.sum() / 3)
    ci = bootstrap_intervals(ev.state, ["mIoU"])
    trial = _record(
        "unet-s5-d16",
        "semantic",
        {"accuracy": metrics["mIoU"], "accuracy_ci_low": ci["mIoU_ci_low"]},
        {"semantic": ev.state.to_bytes()},
    )
    rec = recommend([trial], "semantic", Constraints())
    assert rec.verdict == "no_signal" and rec.recommended is None
    assert "pretrained checkpoint" in " ".join(rec.reasons)


def _box_dataset() -> Dataset:
    images = []
    for i in range(IMAGES):
        inst = Instance(i + 1, 0, (10.0, 10.0, 40.0, 40.0), 900.0, None, False)
        images.append(ImageRecord(i, Path(f"{i}.jpg"), 64, 64, [inst]))
    return Dataset("d", "coco", Path("."), ["thing"], 1, images)


def _detection_trial(arch: str, detections: list[Detections]) -> TrialRecord:
    ev = CocoEvaluator(_box_dataset(), "bbox")
    for i, det in enumerate(detections):
        ev.process(i, det)
    metrics = ev.evaluate()
    assert ev.state is not None
    ci = bootstrap_intervals(ev.state, ["bbox_AP"])
    return _record(
        arch,
        "detection",
        {
            "accuracy": metrics["bbox_AP"],
            "accuracy_ci_low": ci["bbox_AP_ci_low"],
            "accuracy_ci_high": ci["bbox_AP_ci_high"],
        },
        {"bbox": ev.state.to_bytes()},
    )


def test_detectors_that_find_nothing_are_no_signal():
    """The coco_tiny case in miniature: every detector scores AP 0.000."""
    rng = np.random.default_rng(0)

    def junk() -> Detections:
        boxes = rng.uniform(0, 8, (5, 2))
        return Detections(
            np.hstack([boxes, boxes + 2]).astype(np.float32),
            rng.random(5).astype(np.float32),
            np.zeros(5, dtype=np.int64),
        )

    trials = [
        _detection_trial("rtmdet-tiny", [junk() for _ in range(IMAGES)]),
        _detection_trial("yolox-tiny", [junk() for _ in range(IMAGES)]),
    ]
    out = recommend(trials, "detection", Constraints()).to_dict()
    assert out["verdict"] == "no_signal" and out["recommended"] is None


def test_seeds_are_averaged_on_shared_resamples(gt_maps):
    seeds = [_semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=s) for s in (1, 2)]
    blobs = [t.eval_states["semantic"] for t in seeds]
    samples = resample_all({"u": blobs}, {"u": "mIoU"})["u"]
    one = resample_all({"a": blobs[:1]}, {"a": "mIoU"})["a"]
    two = resample_all({"b": blobs[1:]}, {"b": "mIoU"})["b"]
    np.testing.assert_allclose(samples.values, (one.values + two.values) / 2)
    rec = recommend(seeds, "semantic", Constraints())
    assert rec.recommended is not None and rec.recommended.seeds == 2
    assert rec.recommended.seed_min is not None and rec.recommended.seed_max is not None
