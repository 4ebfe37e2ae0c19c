"""The verdict (clear / equivalent / undecided / uncontested / no_signal) from per-image evaluation
states of real evaluators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchsel.data.types import Dataset, ImageRecord, Instance
from benchsel.evaluation.bootstrap import bootstrap_intervals
from benchsel.evaluation.coco import CocoEvaluator
from benchsel.evaluation.semantic import SemanticEvaluator
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


def test_equal_models_one_run_each_are_undecided_not_a_speed_win(gt_maps):
    # Same error rate, different noise: equal in expectation, separated only by chance. An
    # interval crossing 0 is not equivalence: the verdict is undecided, the leader is picked
    # provisionally and the faster one does not win on speed.
    trials = [
        _semantic_trial("unet-s5-d16", gt_maps, 0.20, seed=1, latency=40.0),
        _semantic_trial("fcn-r50", gt_maps, 0.20, seed=2, latency=10.0),
    ]
    rec = recommend(trials, "semantic", Constraints())
    out = rec.to_dict()
    leader = max(rec.ranking, key=lambda o: o.accuracy or 0)
    if out["verdict"] == "clear":  # chance can separate two runs; then it must be the leader
        assert out["recommended"]["name"] == leader.name
    else:
        assert out["verdict"] == "undecided"
        assert out["recommended"]["name"] == leader.name
        assert out["tied_with"] == [o.name for o in rec.ranking if o is not rec.recommended]
    assert out["evidence"]["training_noise"] == "not_measured"
    text = " ".join(out["reasons"])
    assert "One training run per candidate: the interval does not include training noise" in text


def test_identical_predictions_are_equivalent_and_the_faster_is_picked(gt_maps):
    a = _semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=1, latency=30.0)
    b = _semantic_trial("fcn-r50", gt_maps, 0.10, seed=1, latency=12.0)
    rec = recommend([a, b], "semantic", Constraints())
    assert rec.verdict == "equivalent"
    assert rec.recommended is not None and rec.recommended.id == "fcn-r50"
    assert rec.tied_with == ["unet-s5-d16"]
    assert any("equivalent" in r.lower() and "±0.01" in r for r in rec.reasons)


def test_a_wider_margin_turns_a_small_difference_into_equivalence(gt_maps):
    trials = [
        _semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=1, latency=30.0),
        _semantic_trial("fcn-r50", gt_maps, 0.11, seed=1, latency=12.0),
    ]
    strict = recommend(trials, "semantic", Constraints(margin=0.001))
    loose = recommend(trials, "semantic", Constraints(margin=0.2))
    assert strict.verdict in ("clear", "undecided")
    assert loose.verdict == "equivalent"
    assert loose.recommended is not None and loose.recommended.id == "fcn-r50"


def _seeded(arch: str, gt_maps, error: float, seeds: range, spread: float, name: str | None = None):
    """Trials of one candidate whose seeds scatter: each seed's error rate is drawn around
    ``error`` with standard deviation ``spread`` (training noise)."""
    rng = np.random.default_rng(len(arch) * 100 + seeds.start)
    out = []
    for s in seeds:
        t = _semantic_trial(arch, gt_maps, float(np.clip(error + rng.normal(0, spread), 0, 1)), s)
        if name is not None:
            t.spec = {"name": name}
            t.hash = f"{name}-{s}"
        out.append(t)
    return out


def test_same_architecture_under_two_names_with_seeds_is_not_clear(gt_maps):
    """The issue's done-when in miniature: one architecture entered twice, three seeds each."""
    trials = _seeded("unet-s5-d16", gt_maps, 0.2, range(0, 3), 0.04, "unet-a") + _seeded(
        "unet-s5-d16", gt_maps, 0.2, range(3, 6), 0.04, "unet-b"
    )
    out = recommend(trials, "semantic", Constraints()).to_dict()
    assert out["verdict"] != "clear"
    assert out["evidence"]["training_noise"] == "measured"
    assert out["evidence"]["seeds"] == {"unet-a": 3, "unet-b": 3}
    assert {o["name"] for o in out["ranking"]} == {"unet-a", "unet-b"}


def test_seed_spread_widens_the_interval_beyond_the_images_alone(gt_maps):
    one = _seeded("unet-s5-d16", gt_maps, 0.2, range(0, 1), 0.0)
    three = _seeded("unet-s5-d16", gt_maps, 0.2, range(0, 3), 0.05)
    blobs = {
        "one": [one[0].eval_states["semantic"]],
        "three": [t.eval_states["semantic"] for t in three],
    }
    samples = resample_all(blobs, {"one": "mIoU", "three": "mIoU"})
    lo3, hi3 = samples["three"].interval()
    img_lo, img_hi = np.quantile(samples["three"].values, [0.025, 0.975])  # images only
    scores = [t.metrics["accuracy"] for t in three]
    # The seeds' own spread, computed here from the three scores: the interval holds every seed.
    assert lo3 < min(scores) and max(scores) < hi3
    assert hi3 - lo3 > img_hi - img_lo
    lo1, hi1 = samples["one"].interval()
    one_lo, one_hi = np.quantile(samples["one"].values, [0.025, 0.975])
    assert hi1 - lo1 > one_hi - one_lo  # the borrowed seed spread widens it too
    assert samples["three"].noise is not None and samples["three"].noise.source == "measured"
    # The one-seed option borrows the pooled seed variance, said as "pooled".
    assert samples["one"].noise is not None and samples["one"].noise.source == "pooled"
    assert samples["one"].noise.var == pytest.approx(np.var(scores, ddof=1), rel=0.05)


def test_a_rival_near_chance_is_still_compared():
    """0.050 [0.012, 0.090] against 0.049 [0.009, 0.090]: not clear, the rival not dropped."""
    trials = [
        _record(
            "rtmdet-tiny",
            "detection",
            {"accuracy": 0.050, "accuracy_ci_low": 0.012, "accuracy_ci_high": 0.090},
            {},
        ),
        _record(
            "yolox-tiny",
            "detection",
            {"accuracy": 0.049, "accuracy_ci_low": 0.009, "accuracy_ci_high": 0.090},
            {},
        ),
    ]
    rec = recommend(trials, "detection", Constraints())
    assert rec.verdict == "undecided"
    assert rec.tied_with == ["yolox-tiny"]
    rival = next(o for o in rec.ranking if o.id == "yolox-tiny")
    assert "not separated from rtmdet-tiny" in rival.reasons[0]


def test_one_feasible_candidate_is_uncontested(gt_maps):
    rec = recommend([_semantic_trial("unet-s5-d16", gt_maps, 0.1, seed=1)], "semantic")
    assert rec.verdict == "uncontested" and rec.recommended is not None
    assert any("nothing was compared" in r for r in rec.reasons)


def test_options_without_intervals_prove_nothing():
    trials = [
        _record("rtmdet-tiny", "detection", {"accuracy": 0.30}, {}),
        _record("yolox-tiny", "detection", {"accuracy": 0.10}, {}),
    ]
    rec = recommend(trials, "detection", Constraints())
    assert rec.verdict == "undecided"  # neither clear nor no_signal without intervals


def test_unequal_budgets_are_named(gt_maps):
    a = _semantic_trial("unet-s5-d16", gt_maps, 0.05, seed=1)
    b = _semantic_trial("fcn-r50", gt_maps, 0.40, seed=2)
    a.spec = {"training": {"batch_size": 8}}
    b.spec = {"training": {"batch_size": 8}}
    a.metrics = {**a.metrics, "train_iters": 300.0}
    b.metrics = {**b.metrics, "train_iters": 120.0}
    b.conditions = {**b.conditions, "training": {"stopped_by_wall_clock": True}}
    out = recommend([a, b], "semantic", Constraints()).to_dict()
    assert out["evidence"]["budgets_equal"] is False
    text = " ".join(out["reasons"])
    assert "different training budgets" in text and "stopped by the wall-clock cap" in text


def test_the_pick_is_scored_on_the_test_split_when_there_is_one(gt_maps):
    a = _semantic_trial("unet-s5-d16", gt_maps, 0.05, seed=1)
    b = _semantic_trial("fcn-r50", gt_maps, 0.40, seed=2)
    plain = recommend([a, b], "semantic").to_dict()
    assert plain["evidence"]["scored_on"] == "validation"
    assert any("(optimistic)" in r for r in plain["reasons"])
    a.metrics = {
        **a.metrics,
        "test_accuracy": 0.61,
        "test_accuracy_ci_low": 0.55,
        "test_accuracy_ci_high": 0.66,
    }
    out = recommend([a, b], "semantic").to_dict()
    assert out["evidence"]["scored_on"] == "test"
    assert out["recommended"]["test_accuracy"] == 0.61
    assert any("held-out test split" in r and "0.610" in r for r in out["reasons"])


def test_failed_seeds_are_counted(gt_maps):
    ok = _seeded("unet-s5-d16", gt_maps, 0.1, range(0, 2), 0.01)
    failed = _semantic_trial("unet-s5-d16", gt_maps, 0.1, seed=7)
    failed.status = "failed"
    other = _semantic_trial("fcn-r50", gt_maps, 0.4, seed=2)
    out = recommend([*ok, failed, other], "semantic").to_dict()
    assert out["evidence"]["seeds"]["unet-s5-d16"] == 2
    assert out["evidence"]["seeds_planned"]["unet-s5-d16"] == 3
    assert any("2 of 3 seeds ok" in r for r in out["reasons"])


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


def _miou_by_hand(pairs: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> float:
    """mIoU of images counted ``weights`` times, from the label maps themselves."""
    n = len(CLASSES)
    confusion = np.zeros((n, n))
    for (gt, pred), w in zip(pairs, weights, strict=True):
        confusion += w * np.bincount(gt.ravel() * n + pred.ravel(), minlength=n * n).reshape(n, n)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = confusion.sum(1) > 0
    return float(np.mean(tp[present] / union[present]))


def _predictions(gt_maps, error_rate: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same predictions ``_semantic_trial`` makes (same generator, same order)."""
    rng = np.random.default_rng(seed)
    out = []
    for gt in gt_maps:
        pred = gt.copy()
        flip = rng.random(gt.shape) < error_rate
        pred[flip] = (gt[flip] + 1) % len(CLASSES)
        out.append((gt, pred))
    return out


def test_seeds_are_resampled_on_shared_image_weights(gt_maps):
    """Each seed's resampled scores equal mIoU computed by hand from the label maps under the
    same image multiplicities; the option's value is their mean."""
    from benchsel.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_weights

    seeds = [_semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=s) for s in (1, 2)]
    blobs = [t.eval_states["semantic"] for t in seeds]
    samples = resample_all({"u": blobs}, {"u": "mIoU"})["u"]
    weights = bootstrap_weights(IMAGES, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
    for k, seed in enumerate((1, 2)):
        pairs = _predictions(gt_maps, 0.10, seed)
        for r in range(0, BOOTSTRAP_RESAMPLES, 97):
            assert samples.per_seed[r, k] == pytest.approx(_miou_by_hand(pairs, weights[r]))
        assert samples.points[k] == pytest.approx(_miou_by_hand(pairs, np.ones(IMAGES)))
    np.testing.assert_allclose(samples.values, samples.per_seed.mean(axis=1))
    rec = recommend(seeds, "semantic", Constraints())
    assert rec.recommended is not None and rec.recommended.seeds == 2
    assert rec.recommended.seed_min is not None and rec.recommended.seed_max is not None


def _store(tmp_path: Path, trials: list[TrialRecord], constraints: dict | None = None) -> Path:
    from benchsel.store import ResultsStore

    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.start_run("s", {"constraints": constraints or {}}, {}, {})
        for t in trials:
            store.save_trial(t)
    return path


def test_console_says_one_run_each_leaves_training_noise_out(benchsel, tmp_path, gt_maps):
    """Two candidates, one seed each, through the installed console script."""
    path = _store(
        tmp_path,
        [
            _semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=1),
            _semantic_trial("fcn-r50", gt_maps, 0.12, seed=2),
        ],
    )
    text = benchsel("recommend", "--task", "semantic", "--results", str(path))
    assert text.code == 0, text.output
    assert "One training run per candidate: the interval does not include training noise" in (
        text.stdout
    )
    assert "Evidence: intervals cover validation images only" in text.stdout
    out = benchsel("recommend", "--task", "semantic", "--results", str(path), "--json").report()
    assert out["evidence"]["training_noise"] == "not_measured"
    assert out["evidence"]["seeds"] == {"unet-s5-d16": 1, "fcn-r50": 1}


def test_margin_from_the_run_and_from_the_command_line(benchsel, tmp_path, gt_maps):
    trials = [
        _semantic_trial("unet-s5-d16", gt_maps, 0.10, seed=1, latency=30.0),
        _semantic_trial("fcn-r50", gt_maps, 0.11, seed=1, latency=12.0),
    ]
    path = _store(tmp_path, trials, {"margin": 0.3})
    base = ("recommend", "--task", "semantic", "--results", str(path), "--json")
    from_run = benchsel(*base).report()
    assert from_run["evidence"]["margin"] == 0.3 and from_run["verdict"] == "equivalent"
    assert from_run["recommended"]["name"] == "fcn-r50"  # the faster of two equivalents
    strict = benchsel(*base, "--margin", "0.0001").report()
    assert strict["evidence"]["margin"] == 0.0001 and strict["verdict"] != "equivalent"
