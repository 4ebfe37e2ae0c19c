"""The prior: the situation the decision table reads, and a pick judged on published numbers."""

from __future__ import annotations

import pytest

from benchsel.catalog import load_catalog
from benchsel.recommend.prior import (
    Situation,
    budget_hours,
    latency_limit_ms,
    prior_choice,
    published_violations,
)
from benchsel.suite import Constraints


def test_latency_limit_is_the_tighter_of_fps_and_milliseconds():
    assert latency_limit_ms(Constraints()) is None
    assert latency_limit_ms(Constraints(min_fps=40)) == pytest.approx(25.0)
    assert latency_limit_ms(Constraints(min_fps=40, max_latency_ms=20)) == 20
    assert latency_limit_ms(Constraints(min_fps=40, max_latency_ms=30)) == pytest.approx(25.0)


def test_budget_hours_prices_dollars_at_the_gpu_hour():
    assert budget_hours(Constraints(), 2.5) is None
    assert budget_hours(Constraints(gpu_budget_usd=100), 10.0) == pytest.approx(10.0)
    assert budget_hours(Constraints(gpu_budget_usd=100), 2.5) == pytest.approx(40.0)
    assert budget_hours(Constraints(gpu_budget_usd=100, gpu_budget_hours=5), 2.5) == 5
    assert budget_hours(Constraints(gpu_budget_usd=100), 0.0) is None  # free GPUs: no limit


def test_situation_thresholds():
    realtime = Situation.of("detection", Constraints(min_fps=30), 2.5)
    assert realtime.realtime and not realtime.limited_gpu and not realtime.limited_data
    assert not Situation.of("detection", Constraints(min_fps=29), 2.5).realtime
    # $100 at $10 an hour is 10 GPU-hours (limited); at $2.5 it is 40 (not limited)
    assert Situation.of("detection", Constraints(gpu_budget_usd=100), 10.0).limited_gpu
    assert not Situation.of("detection", Constraints(gpu_budget_usd=100), 2.5).limited_gpu
    assert Situation.of("detection", Constraints(max_gpu_mem_gib=8), 2.5).limited_gpu
    assert not Situation.of("detection", Constraints(max_gpu_mem_gib=8.5), 2.5).limited_gpu
    assert Situation.of("semantic", Constraints(labelled_images=1000), 2.5).limited_data
    assert not Situation.of("semantic", Constraints(labelled_images=1001), 2.5).limited_data
    assert Situation.of("semantic", Constraints(domain="medical"), 2.5).medical


def test_published_violations_quote_the_catalog():
    dino = load_catalog().get("dino-5scale-swin-l")
    ap = dino.reference.metrics["bbox_AP"]
    broken, unknown = published_violations(
        dino, "detection", Constraints(target_accuracy=0.9, min_fps=30, max_gpu_mem_gib=4)
    )
    assert broken == [f"bbox_AP {ap / 100:.3f} published on COCO val2017 < target 0.9"]
    assert unknown == ["speed unknown (not published)", "training memory not published"]
    assert published_violations(dino, "detection", Constraints()) == ([], [])


def test_a_preferred_candidate_that_breaks_a_constraint_is_passed_over():
    unet = load_catalog().get("unet-s5-d16")
    gb = unet.reference.train_memory_gb
    assert gb is not None and gb > 10
    choice = prior_choice("semantic", Constraints(domain="medical", max_gpu_mem_gib=10))
    assert choice.pick is not None and choice.pick.id == "fcn-r50"  # the row's next preference
    assert choice.unmet == {
        "unet-s5-d16": [
            f"training needs {gb:g} GB per GPU at the published batch (OpenMMLab's figure) > 10 GiB"
        ]
    }
    assert choice.reasons[0].startswith("medical imaging, limited data: U-Net")
    assert "break your constraints" not in choice.reasons[0]  # fcn-r50 is a preference
    assert "here fcn-r50 (mIoU 72.25 published on Cityscapes val)" in choice.reasons[0]


def test_a_pick_outside_the_preferences_says_they_break_the_constraints():
    # unet 17.91, fcn 5.7 and deeplabv3plus 7.5 GB break 5.68 GiB; mask2former's 5.67 does not
    choice = prior_choice("semantic", Constraints(domain="medical", max_gpu_mem_gib=5.68))
    assert choice.pick is not None and choice.pick.id == "mask2former-r50-semantic"
    assert sorted(choice.unmet) == ["deeplabv3plus-r50", "fcn-r50", "unet-s5-d16"]
    assert choice.reasons[0].endswith(
        "here mask2former-r50-semantic (mIoU 80.44 published on Cityscapes val). The table's "
        "preferred unet-s5-d16, fcn-r50, deeplabv3plus-r50 break your constraints on their "
        "published numbers"
    )


def test_unknown_published_numbers_are_said_to_be_unverified():
    choice = prior_choice("semantic", Constraints(domain="medical", min_fps=10))
    assert choice.pick is not None and choice.pick.id == "unet-s5-d16"
    assert choice.unverified["unet-s5-d16"] == ["speed unknown (not published)"]
    assert choice.reasons[1] == "Not verified for unet-s5-d16: speed unknown (not published)."
    assert choice.alternatives == ["fcn-r50", "deeplabv3plus-r50", "mask2former-r50-semantic"]


def test_nothing_meets_the_constraints():
    choice = prior_choice("detection", Constraints(target_accuracy=0.99))
    assert choice.pick is None and choice.alternatives == []
    assert choice.reasons == [
        "no detection architecture in the catalog meets your constraints on its published "
        "numbers (see the rejected list); relax a constraint or measure on your data"
    ]
    detectors = {a.id for a in load_catalog().architectures if "detection" in a.tasks}
    assert set(choice.unmet) == detectors
