"""The words of a recommendation (explain, explain_verdict): exact sentences for known inputs."""

from __future__ import annotations

from benchsel.recommend import explain, explain_verdict
from benchsel.recommend.curve_fit import ImagesNeeded
from benchsel.recommend.evidence import Comparison, Separation
from benchsel.recommend.options import Option
from benchsel.suite import Constraints, LabellingPrices, PriceRange


def _option(**kw) -> Option:
    base = {"id": "rtmdet-tiny", "family": "yolo", "accuracy": 0.412, "accuracy_metric": "bbox_AP"}
    return Option(**{**base, **kw})


def test_constraint_sentences():
    assert explain.too_slow_fps(12.345, 30) == "12.3 fps < 30 fps required"
    assert explain.too_slow_ms(41.26, 33.3) == "41.3 ms > 33.3 ms allowed"
    assert explain.too_much_memory("training", 9.04, 8) == (
        "training needs 9.0 GiB > 8 GiB of GPU memory"
    )
    assert explain.too_many_hours(30.06, 24) == "full training needs 30.1 GPU-hours > 24"
    assert explain.too_costly("its labels cost", 1234.5, 1000) == "its labels cost $1,234 > $1,000"
    assert explain.below_target("segm_AP", 0.3456, 0.4) == "segm_AP 0.346 < target 0.4"


def test_describe_lists_every_constraint_set_in_order():
    c = Constraints(
        min_fps=30,
        max_latency_ms=20,
        max_gpu_mem_gib=8,
        gpu_budget_hours=24,
        gpu_budget_usd=1500,
        label_budget_usd=2000,
        labelled_images=5000,
        target_accuracy=0.5,
        domain="aerial",
        need_pixel_masks=False,
    )
    assert explain.describe("semantic", c) == [
        "task: semantic",
        "at least 30 fps (batch 1, end to end)",
        "at most 20 ms latency (batch 1, end to end)",
        "at most 8 GiB of GPU memory (training and inference)",
        "training budget 24 GPU-hours",
        "training budget $1,500",
        "labelling budget $2,000",
        "5,000 labelled images available",
        "target mIoU >= 0.5",
        "domain: aerial",
        "boxes are enough",
    ]
    assert explain.describe("detection", Constraints()) == ["task: detection"]


def test_mask_note_prices_the_difference_to_boxes():
    prices = LabellingPrices(
        box=PriceRange(low=0.1, typical=0.2, high=0.3),
        instance_mask=PriceRange(low=0.5, typical=1.0, high=2.0),
        pixel_mask=PriceRange(low=2.0, typical=4.0, high=6.0),
    )
    # 3 objects per image: boxes $0.60, instance masks $3.00, pixel masks $4.00 per image; over
    # 2,000 images the masks cost (3.00 - 0.60) * 2000 = 4,800 to (4.00 - 0.60) * 2000 = 6,800
    note = explain.mask_note(Constraints(labelled_images=2000), prices, 3.0)
    assert note == (
        "Boxes are the cheapest labels: about $0.60 per image here (3.0 objects x $0.20). "
        "Instance masks would cost $3.00 per image and full pixel masks $4.00, i.e. $4,800 to "
        "$6,800 more for 2,000 images. Choose segmentation only if pixel-accurate outlines "
        "change a decision downstream."
    )


def test_a_route_names_the_images_and_the_labels_still_to_buy():
    need = ImagesNeeded(
        target=0.5,
        images=4000,
        low=3000,
        high=6500,
        cost_usd={"low": 100.0, "typical": 250.0, "high": 500.0},
        extrapolation=2.0,
        reachable=True,
        message="",
    )
    c = Constraints(target_accuracy=0.5)
    o = _option()
    assert explain.route(o, need, c) == (
        "bbox_AP 0.412 now; its learning curve reaches 0.5 at about 4,000 images [3,000, 6,500], "
        "$250 more labels ($100 to $500) (2.0x the largest measured size)"
    )
    open_ended = ImagesNeeded(0.5, 4000, 3000, None, None, None, True, "")
    assert explain.routes_note({"a": open_ended}, c) == (
        "Below the target 0.5 now but forecast to reach it with more labels: a at about 4,000 "
        "images [3,000, no upper end]"
    )


def test_winner_states_score_interval_seeds_speed_and_flops():
    best = _option(
        accuracy_ci_low=0.39,
        accuracy_ci_high=0.43,
        seeds=3,
        seed_min=0.401,
        seed_max=0.425,
        fps=50.0,
        latency_ms=20.0,
        gflops=8.09,
    )
    assert explain_verdict.winner(best) == (
        "rtmdet-tiny has the highest bbox_AP on your data among the candidates that meet every "
        "constraint: 0.412 (95% interval 0.390 to 0.430), mean of 3 seeds ranging 0.401 to "
        "0.425, at 50.0 fps (p50 latency 20.0 ms), 8.1 GFLOPs."
    )


def test_a_comparison_says_what_its_interval_rests_on():
    rival = _option(id="yolox-s", accuracy=0.38)
    leader = _option()
    one_run = Comparison(0.032, 0.01, 0.05, 0.99, 200)
    assert explain_verdict.less_accurate(rival, leader, one_run) == (
        "bbox_AP 0.380 < 0.412 of rtmdet-tiny (difference +0.032, 95% interval +0.010 to "
        "+0.050, paired bootstrap over 200 images, one training run each)"
    )
    pooled = Comparison(0.01, -0.02, 0.04, 0.7, 200, (3, 1), "pooled")
    assert explain_verdict.indistinguishable(rival, leader, pooled) == (
        "bbox_AP 0.380: not separated from rtmdet-tiny (difference +0.010, 95% interval -0.020 "
        "to +0.040, 200 images paired and 3 vs 1 seeds (seed spread partly pooled))"
    )
    assert explain_verdict.indistinguishable(rival, leader, None).endswith(
        "(intervals compared, no per-image results stored)"
    )


def test_how_to_separate_each_kind_of_advice():
    a, b = _option(), _option(id="yolox-s")
    say = explain_verdict.how_to_separate
    assert say(b, a, Separation(needs_seeds_first=True), 0.01).startswith(
        "rtmdet-tiny vs yolox-s: with one training run each, training noise is not measured"
    )
    assert say(b, a, Separation(seeds=6), 0.01) == (
        "rtmdet-tiny vs yolox-s: about 6 seeds each would separate them"
    )
    assert say(b, a, Separation(seeds=20, image_factor=3, goal="equivalent"), 0.02) == (
        "rtmdet-tiny vs yolox-s: even 20 seeds each would not show them equivalent within "
        "±0.02; about 3x the validation images with them might"
    )
    assert "too small for any practical number" in say(b, a, Separation(), 0.01)
