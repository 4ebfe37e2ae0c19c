"""Per-image evaluation states, bootstrap intervals and paired comparisons, against references.

A state reweighted by integer multiplicities must score exactly as the reference evaluator run
on a data set where each image is literally copied that many times (new image and annotation
ids); with all weights 1 it must score as the evaluator did.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchsel.data import load_data
from benchsel.evaluation.bootstrap import (
    bootstrap_interval,
    bootstrap_intervals,
    bootstrap_weights,
    paired_bootstrap,
    state_from_bytes,
)
from benchsel.evaluation.coco import CocoEvalState, CocoEvaluator, coco_ground_truth
from benchsel.evaluation.panoptic import PanopticEvalState, PanopticEvaluator
from benchsel.evaluation.semantic import SemanticEvalState, SemanticEvaluator
from benchsel.predictions import Detections, PanopticPrediction, PanopticSegment, SemanticMap
from tests.evaluation.cases import (
    _oracle_semantic,
    _perturb,
    _pycocotools,
    _random_case,
    _random_dets,
    _random_panoptic,
)

# ---------------------------------------------------------------- COCO


def _duplicated(gt: dict, results: list, weights: dict[int, int]) -> tuple[dict, list]:
    """GT and results with image ``i`` copied ``weights[i]`` times under new ids.

    New ids follow the original id order, so detections with equal scores in different images
    keep their relative order in COCOeval's stable sort.
    """
    images: list[dict] = []
    anns: list[dict] = []
    dets: list[dict] = []
    by_image: dict[int, list] = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    dets_by_image: dict[int, list] = {}
    for d in results:
        dets_by_image.setdefault(d["image_id"], []).append(d)
    for im in sorted(gt["images"], key=lambda im: im["id"]):
        for _ in range(weights[im["id"]]):
            new_id = len(images) + 1
            images.append({**im, "id": new_id})
            for a in by_image.get(im["id"], []):
                anns.append({**copy.deepcopy(a), "image_id": new_id, "id": len(anns) + 1})
            for d in dets_by_image.get(im["id"], []):
                dets.append({**copy.deepcopy(d), "image_id": new_id})
    return {**gt, "images": images, "annotations": anns}, dets


def _coco_case(seed: int, iou_type: str, per_image=(0, 30)):
    """A seeded case with crowd GT, an image without GT and an image without detections."""
    ds = _random_case(seed, n_images=7)
    ds.images[1].instances = []  # no ground truth
    dets = _random_dets(ds, seed + 100, per_image=per_image, with_masks=iou_type == "segm")
    empty = dets[ds.images[2].id]
    dets[ds.images[2].id] = Detections(  # no detections
        empty.boxes[:0],
        empty.scores[:0],
        empty.labels[:0],
        None if empty.masks is None else empty.masks[:0],
    )
    rng = np.random.default_rng(seed + 200)
    for d in dets.values():  # continuous scores: no two detections tie
        d.scores = rng.random(len(d))
    ev = CocoEvaluator(ds, iou_type)  # type: ignore[arg-type]
    for image_id, d in dets.items():
        ev.process(image_id, d)
    stats = ev.evaluate()
    assert any(i.iscrowd for im in ds.images for i in im.instances)
    assert ev.state is not None
    return ds, ev, stats


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_coco_state_with_unit_weights_scores_as_cocoeval(seed, iou_type):
    ds, ev, stats = _coco_case(seed, iou_type)
    state = ev.state
    assert state is not None
    assert state.image_ids.tolist() == [im.id for im in ds.images]
    ours = state.score(np.ones(state.n_images, dtype=int))
    reference = _pycocotools(coco_ground_truth(ds, iou_type), ev.results, iou_type)
    for k, name in enumerate(("AP", "AP50", "AP75")):
        key = f"{iou_type}_{name}"
        assert ours[key] == pytest.approx(stats[key], abs=1e-9)
        assert ours[key] == pytest.approx(reference[k], abs=1e-9)


@pytest.mark.parametrize(
    ("iou_type", "seed", "per_image"),
    [("bbox", 0, (0, 30)), ("bbox", 1, (0, 30)), ("bbox", 2, (120, 160)), ("segm", 0, (0, 30))],
)
def test_coco_state_with_duplicating_weights_scores_as_pycocotools_on_copies(
    iou_type, seed, per_image
):
    ds, ev, _ = _coco_case(seed, iou_type, per_image)
    state = ev.state
    assert state is not None
    gt = coco_ground_truth(ds, iou_type)
    rng = np.random.default_rng(seed)
    for weights in (
        np.array([2, 2, 1, 3, 1, 0, 2]),  # the image without GT twice, without detections once
        np.array([0, 3, 0, 1, 2, 1, 1]),  # the last image holds the crowd region
        rng.integers(0, 4, state.n_images),
    ):
        ours = state.score(weights)
        w = dict(zip(state.image_ids.tolist(), weights.tolist(), strict=True))
        reference = _pycocotools(*_duplicated(gt, ev.results, w), iou_type)
        assert reference[0] >= 0, "the case needs ground truth"
        for k, name in enumerate(("AP", "AP50", "AP75")):
            assert ours[f"{iou_type}_{name}"] == pytest.approx(reference[k], abs=1e-9), weights


def test_coco_state_without_ground_truth_drawn_is_nan_and_pycocotools_is_minus_one():
    ds, ev, _ = _coco_case(3, "bbox")
    state = ev.state
    assert state is not None
    weights = np.zeros(state.n_images, dtype=int)
    weights[1] = 2  # only the image without ground truth
    assert all(np.isnan(v) for v in state.score(weights).values())
    gt = coco_ground_truth(ds, "bbox")
    w = dict(zip(state.image_ids.tolist(), weights.tolist(), strict=True))
    assert _pycocotools(*_duplicated(gt, ev.results, w), "bbox")[0] == -1


def test_coco_state_of_empty_results_scores_zero():
    ds = _random_case(4)
    ev = CocoEvaluator(ds, "bbox")
    stats = ev.evaluate()
    assert ev.state is not None and len(ev.state.det_image) == 0
    ours = ev.state.score(np.ones(ev.state.n_images, dtype=int))
    assert ours["bbox_AP"] == stats["bbox_AP"] == 0.0


def test_coco_batch_scores_equal_one_at_a_time():
    _, ev, _ = _coco_case(5, "bbox")
    state = ev.state
    assert state is not None
    weights = bootstrap_weights(state.n_images, 40, seed=1)
    batch = state.score_batch(weights)
    for i in range(0, 40, 7):
        single = state.score(weights[i])
        for key, value in single.items():
            np.testing.assert_equal(batch[key][i], value)


def _fixture_state(root, iou_type: str, jitter: bool = False):
    ds = load_data(root / "instances_val2014_100.json", check_images=False).splits["all"]
    results = json.loads((root / f"instances_val2014_fake{iou_type}100_results.json").read_text())
    if jitter:  # the fixture's 3-decimal scores tie; distinct offsets make copies well defined
        for k, r in enumerate(results):
            r["score"] += 1e-7 * k
    ev = CocoEvaluator(ds, iou_type)  # type: ignore[arg-type]
    ev.results = results
    stats = ev.evaluate()
    assert ev.state is not None
    return ds, ev, stats, ev.state


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_api_fixture_state_scores_as_pycocotools(iou_type, coco_val2014_100):
    root = coco_val2014_100
    _, _, stats, state = _fixture_state(root, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(root / "instances_val2014_100.json"))
        ev = COCOeval(
            gt,
            gt.loadRes(str(root / f"instances_val2014_fake{iou_type}100_results.json")),
            iou_type,
        )
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = state.score(np.ones(state.n_images, dtype=int))
    np.testing.assert_allclose(
        [ours[f"{iou_type}_{n}"] for n in ("AP", "AP50", "AP75")], ev.stats[:3], rtol=0, atol=1e-9
    )
    ids = [
        im["id"] for im in json.loads((root / "instances_val2014_100.json").read_text())["images"]
    ]
    assert ids != sorted(ids) and state.image_ids.tolist() == ids  # the data set's order
    assert ours[f"{iou_type}_AP"] == pytest.approx(stats[f"{iou_type}_AP"], abs=1e-9)
    assert state.n_images == 100 and len(state.cat_ids) == 70  # 80 categories, 70 in this GT


def test_coco_api_fixture_duplicated_scores_as_pycocotools(coco_val2014_100):
    ds, ev, _, state = _fixture_state(coco_val2014_100, "bbox", jitter=True)
    weights = bootstrap_weights(state.n_images, 1, seed=3)[0]
    w = dict(zip(state.image_ids.tolist(), weights.tolist(), strict=True))
    gt = coco_ground_truth(ds, "bbox")
    reference = _pycocotools(*_duplicated(gt, ev.results, w), "bbox")
    ours = state.score(weights)
    np.testing.assert_allclose(
        [ours[f"bbox_{n}"] for n in ("AP", "AP50", "AP75")], reference[:3], rtol=0, atol=1e-9
    )


# ---------------------------------------------------------------- semantic


def _semantic_case(seed: int, n_images: int = 6, n: int = 5, ignore: int = 255):
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(n)]
    gts, preds = [], []
    for _ in range(n_images):
        g = rng.integers(0, n - 1, (12, 16))  # class n-1 never in ground truth
        g[rng.random(g.shape) < 0.1] = ignore
        p = np.where(rng.random(g.shape) < 0.7, g, rng.integers(0, n, g.shape))
        p[rng.random(g.shape) < 0.05] = ignore  # void predictions count as misses
        gts.append(g)
        preds.append(p)
    return names, gts, preds


def _semantic_state(names, gts, preds, image_ids=None) -> SemanticEvalState:
    ev = SemanticEvaluator(names)
    for k, (g, p) in enumerate(zip(gts, preds, strict=True)):
        ev.process(g, SemanticMap(p), None if image_ids is None else image_ids[k])
    ev.evaluate()
    assert ev.state is not None
    return ev.state


@pytest.mark.parametrize("seed", range(3))
def test_semantic_state_weights_match_direct_counting_on_copies(seed):
    names, gts, preds = _semantic_case(seed)
    ev = SemanticEvaluator(names)
    for g, p in zip(gts, preds, strict=True):
        ev.process(g, p)
    out = ev.evaluate()
    state = ev.state
    assert state is not None and state.image_ids.tolist() == list(range(6))
    ones = state.score(np.ones(6, dtype=int))
    for key, value in out.items():
        np.testing.assert_allclose(ones[key], value, rtol=1e-12)
    weights = np.random.default_rng(seed).integers(0, 4, 6)
    weights[0] = 0
    g_dup = [g for g, w in zip(gts, weights, strict=True) for _ in range(w)]
    p_dup = [p for p, w in zip(preds, weights, strict=True) for _ in range(w)]
    iou, acc, dice, aacc = _oracle_semantic(g_dup, p_dup, len(names), 255)
    ours = state.score(weights)
    np.testing.assert_allclose([ours[f"IoU/{n}"] for n in names], iou, rtol=1e-12)
    assert ours["mIoU"] == pytest.approx(np.nanmean(iou), rel=1e-12)
    assert ours["mAcc"] == pytest.approx(np.nanmean(acc), rel=1e-12)
    assert ours["mDice"] == pytest.approx(np.nanmean(dice), rel=1e-12)
    assert ours["aAcc"] == pytest.approx(aacc, rel=1e-12)


# ---------------------------------------------------------------- panoptic


def _panoptic_images(seed: int, n_images: int = 6):
    rng = np.random.default_rng(seed)
    classes, n_things = ["car", "person", "road", "sky"], 2
    images = []
    for _ in range(n_images):
        ids, segs = _random_panoptic(rng)
        pred_ids, labels = _perturb(rng, ids, segs, len(classes))
        pred = PanopticPrediction(
            pred_ids, [PanopticSegment(s, lbl, lbl < n_things) for s, lbl in labels.items()]
        )
        images.append((ids, segs, pred))
    return classes, n_things, images


def _panoptic_evaluate(classes, n_things, images, image_ids=None) -> PanopticEvaluator:
    ev = PanopticEvaluator(classes, n_things)
    for k, (ids, segs, pred) in enumerate(images):
        ev.process(ids, segs, pred, None if image_ids is None else image_ids[k])
    ev.evaluate()
    return ev


@pytest.mark.parametrize("seed", range(3))
def test_panoptic_state_weights_match_evaluator_on_copies(seed):
    classes, n_things, images = _panoptic_images(seed)
    ev = PanopticEvaluator(classes, n_things)
    for ids, segs, pred in images:
        ev.process(ids, segs, pred)
    out = ev.evaluate()
    state = ev.state
    assert state is not None and state.image_ids.tolist() == list(range(len(images)))
    ones = state.score(np.ones(len(images), dtype=int))
    for key, value in out.items():
        assert ones[key] == pytest.approx(value, abs=1e-12), key
    weights = np.random.default_rng(seed).integers(0, 4, len(images))
    weights[1] = 0
    copies = [im for im, w in zip(images, weights, strict=True) for _ in range(w)]
    reference = _panoptic_evaluate(classes, n_things, copies).evaluate()
    ours = state.score(weights)
    for key in ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st"):
        assert ours[key] == pytest.approx(reference[key], abs=1e-12), key
    for name in classes:
        if f"PQ/{name}" in reference:
            assert ours[f"PQ/{name}"] == pytest.approx(reference[f"PQ/{name}"], abs=1e-12)
        else:
            assert np.isnan(ours[f"PQ/{name}"])


# ---------------------------------------------------------------- storage


def test_states_round_trip_through_bytes_without_pickle():
    _, ev, _ = _coco_case(0, "segm")
    names, gts, preds = _semantic_case(0)
    classes, n_things, images = _panoptic_images(0)
    states = [
        ev.state,
        _semantic_state(names, gts, preds, [10, 11, 12, 13, 14, 15]),
        _panoptic_evaluate(classes, n_things, images).state,
    ]
    weights = bootstrap_weights(7, 1, seed=0)[0]
    for state in states:
        assert state is not None
        data = state.to_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            assert all(npz[f].dtype != object for f in npz.files)
        back = state_from_bytes(data)
        assert type(back) is type(state)
        assert isinstance(back, (CocoEvalState, SemanticEvalState, PanopticEvalState))
        assert type(state).from_bytes(data).n_images == state.n_images
        np.testing.assert_array_equal(back.image_ids, state.image_ids)
        w = weights[: state.n_images]
        np.testing.assert_equal(back.score(w), state.score(w))
    with pytest.raises(ValueError, match="expected a coco state"):
        CocoEvalState.from_bytes(states[1].to_bytes())
    with pytest.raises(ValueError, match="not a benchsel evaluation state"):
        buf = io.BytesIO()
        np.savez(buf, x=np.zeros(2))
        state_from_bytes(buf.getvalue())


def test_state_checks_its_inputs():
    names, gts, preds = _semantic_case(1)
    state = _semantic_state(names, gts, preds)
    with pytest.raises(ValueError, match="shape"):
        state.score(np.ones(5, dtype=int))
    with pytest.raises(ValueError, match="non-negative integers"):
        state.score(np.array([1, 1, -1, 1, 1, 1]))
    with pytest.raises(ValueError, match="non-negative integers"):
        state.score(np.full(6, 0.5))
    with pytest.raises(ValueError, match="no metric PQ"):
        bootstrap_interval(state, "PQ")
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(state, "mIoU", level=95)


# ---------------------------------------------------------------- bootstrap intervals


def _all_or_nothing_state(correct: np.ndarray) -> SemanticEvalState:
    """Equal-size images, each predicted entirely right or entirely wrong: aAcc is a plain mean."""
    gts = [np.zeros((4, 4), np.int64) for _ in correct]
    preds = [np.full((4, 4), 0 if ok else 1, np.int64) for ok in correct]
    return _semantic_state(["a", "b"], gts, preds)


def test_bootstrap_interval_equals_a_hand_written_bootstrap_of_a_mean():
    correct = np.random.default_rng(0).random(30) < 0.6
    state = _all_or_nothing_state(correct)
    rng = np.random.default_rng(7)  # the same draws: rng.integers over (resamples, images)
    means = correct[rng.integers(0, 30, size=(500, 30))].mean(axis=1)
    expected = np.quantile(means, [0.05, 0.95])
    ours = bootstrap_interval(state, "aAcc", n_resamples=500, seed=7, level=0.9)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_bootstrap_interval_agrees_with_the_normal_approximation():
    correct = np.random.default_rng(1).random(300) < 0.3
    state = _all_or_nothing_state(correct)
    p, n = correct.mean(), len(correct)
    half = 1.959964 * np.sqrt(p * (1 - p) / n)
    lo, hi = bootstrap_interval(state, "aAcc", n_resamples=2000, seed=0)
    assert lo == pytest.approx(p - half, abs=0.01)
    assert hi == pytest.approx(p + half, abs=0.01)


def test_bootstrap_intervals_share_one_set_of_resamples():
    names, gts, preds = _semantic_case(2, n_images=10)
    state = _semantic_state(names, gts, preds)
    both = bootstrap_intervals(state, ["mIoU", "aAcc"], n_resamples=200, seed=3)
    assert list(both) == ["mIoU_ci_low", "mIoU_ci_high", "aAcc_ci_low", "aAcc_ci_high"]
    assert (both["mIoU_ci_low"], both["mIoU_ci_high"]) == bootstrap_interval(
        state, "mIoU", n_resamples=200, seed=3
    )
    observed = state.score(np.ones(10, dtype=int))["mIoU"]
    assert both["mIoU_ci_low"] < observed < both["mIoU_ci_high"]
    assert bootstrap_interval(state, "mIoU", 200, seed=4) != bootstrap_interval(
        state, "mIoU", 200, 3
    )
    defaults = bootstrap_intervals(state, n_resamples=50)
    assert set(defaults) == {
        f"{m}_ci_{s}" for m in ("mIoU", "mAcc", "aAcc") for s in ("low", "high")
    }


def test_bootstrap_drops_undefined_resamples_and_gives_nan_without_enough():
    # ground truth in one of 20 images: about 36% of resamples miss it and have no aAcc
    gts = [np.full((4, 4), 255, np.int64) for _ in range(20)]
    gts[5][:] = 0
    preds = [np.zeros((4, 4), np.int64) for _ in range(20)]
    state = _semantic_state(["a", "b"], gts, preds)
    lo, hi = bootstrap_interval(state, "aAcc", n_resamples=300)
    assert lo == hi == 1.0
    for seed, expected in ((4, np.nan), (6, 1.0)):  # 4 and 5 of 10 resamples draw image 5
        drawn = (bootstrap_weights(20, 10, seed)[:, 5] > 0).sum()
        assert drawn == (4 if seed == 4 else 5)
        interval = bootstrap_interval(state, "aAcc", n_resamples=10, seed=seed)
        np.testing.assert_equal(interval, (expected, expected))  # NaN below half defined
    gts[5][:] = 255  # no ground truth at all
    empty = _semantic_state(["a", "b"], gts, preds)
    assert all(np.isnan(bootstrap_interval(empty, "aAcc", n_resamples=50)))
    no_images = _semantic_state(["a", "b"], [], [])
    assert all(np.isnan(v) for v in bootstrap_intervals(no_images, n_resamples=50).values())
    nothing = paired_bootstrap(no_images, no_images, "aAcc", n_resamples=50)
    assert np.isnan(nothing.difference) and np.isnan(nothing.ci_low) and nothing.n_resamples == 0


def test_coco_bootstrap_interval_brackets_the_estimate(coco_val2014_100):
    _, _, stats, state = _fixture_state(coco_val2014_100, "bbox")
    out = bootstrap_intervals(state, n_resamples=200, seed=0)
    for name in ("bbox_AP", "bbox_AP50"):
        assert 0 < out[f"{name}_ci_low"] < stats[name] < out[f"{name}_ci_high"] < 1
    assert out["bbox_AP_ci_high"] - out["bbox_AP_ci_low"] > 0.02  # 100 images are not enough


# ---------------------------------------------------------------- paired comparison


def test_paired_bootstrap_sees_a_clearly_better_model():
    rng = np.random.default_rng(0)
    better = _all_or_nothing_state(rng.random(40) < 0.9)
    worse = _all_or_nothing_state(rng.random(40) < 0.4)
    result = paired_bootstrap(better, worse, "aAcc", n_resamples=500)
    assert result.difference > 0.3
    assert 0 < result.ci_low < result.difference < result.ci_high
    assert result.prob_a_better == 1.0 and result.n_resamples == 500
    flipped = paired_bootstrap(worse, better, "aAcc", n_resamples=500)
    assert flipped.difference == -result.difference and flipped.prob_a_better == 0.0


def test_paired_bootstrap_of_identical_and_exchangeable_models():
    names, gts, preds = _semantic_case(3, n_images=12)
    state = _semantic_state(names, gts, preds)
    same = paired_bootstrap(state, state, "mIoU", n_resamples=200)
    assert same.difference == same.ci_low == same.ci_high == 0.0
    assert same.prob_a_better == 0.0
    correct = np.arange(40) % 2 == 0
    a = _all_or_nothing_state(correct)
    b = _all_or_nothing_state(~correct)  # right where a is wrong, as often
    result = paired_bootstrap(a, b, "aAcc", n_resamples=500)
    assert result.difference == 0.0
    assert result.ci_low < 0 < result.ci_high
    assert 0.3 < result.prob_a_better < 0.7


def test_paired_bootstrap_pairs_images_by_id():
    names, gts, preds = _semantic_case(4, n_images=8)
    _, _, other = _semantic_case(5, n_images=8)
    ids = [101, 102, 103, 104, 105, 106, 107, 108]
    a = _semantic_state(names, gts, preds, ids)
    b = _semantic_state(names, gts, other, ids)
    order = [3, 0, 7, 5, 1, 6, 2, 4]
    b_shuffled = _semantic_state(
        names, [gts[k] for k in order], [other[k] for k in order], [ids[k] for k in order]
    )
    assert paired_bootstrap(a, b_shuffled, "mIoU", 300) == paired_bootstrap(a, b, "mIoU", 300)
    c = _semantic_state(names, gts, other, [*ids[:-1], 999])
    with pytest.raises(ValueError, match="different images"):
        paired_bootstrap(a, c, "mIoU")
    with pytest.raises(ValueError, match="different images"):
        paired_bootstrap(a, _semantic_state(names, gts[:4], other[:4], ids[:4]), "mIoU")
    twice = _semantic_state(names, gts, other, [*ids[:-1], 101])
    with pytest.raises(ValueError, match="more than once"):
        paired_bootstrap(a, twice, "mIoU")


def test_paired_bootstrap_on_the_coco_fixture(coco_val2014_100):
    _, _, bbox_stats, state = _fixture_state(coco_val2014_100, "bbox")
    _, _, segm_stats, segm = _fixture_state(coco_val2014_100, "segm")
    # the fake segm results scored as another model's boxes: box AP 0.505 against mask AP 0.320
    as_bbox = dataclasses.replace(segm, iou_type="bbox")
    result = paired_bootstrap(state, as_bbox, "bbox_AP", n_resamples=300)
    expected = bbox_stats["bbox_AP"] - segm_stats["segm_AP"]
    assert result.difference == pytest.approx(expected, abs=1e-9)
    assert 0 < result.ci_low < result.difference < result.ci_high
    assert result.prob_a_better == 1.0
    with pytest.raises(ValueError, match="no metric bbox_AP"):
        paired_bootstrap(state, segm, "bbox_AP")
