"""What a trial costs, from a training result and the prepared data: the full-schedule price on
the device that trained, and the labels' price; figures worked out by hand below."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchsel.pipeline.costs import label_cost_metrics, training_cost_metrics
from benchsel.suite import CostSpec, LabellingPrices


def _prepared(train_images: int = 400, units: float = 3.0) -> SimpleNamespace:
    return SimpleNamespace(
        train_images=train_images,
        units_per_image={"detection": units},
        train_images_at=lambda fraction: round(train_images * fraction),
    )


def _spec(**cost) -> SimpleNamespace:
    return SimpleNamespace(
        cost=CostSpec(**cost),
        labelling=LabellingPrices(),
        task="detection",
        data_fraction=0.5,
    )


def _result(device: str, images_per_s: float) -> SimpleNamespace:
    return SimpleNamespace(
        device=device,
        images_per_s=images_per_s,
        wall_s=12.0,
        iterations=30,
        memory={"gpu_reserved_peak_gib": 1.5},
    )


def test_a_gpu_trial_is_priced_in_gpu_hours_and_dollars():
    spec = _spec(full_schedule_epochs=100, gpu_hour_usd=4.0)
    out = training_cost_metrics(spec, _prepared(), _result("cuda:0", 20.0), arch=None)
    # 100 epochs x 400 images / 20 images/s = 2,000 s
    assert out["train_full_schedule_gpu_hours"] == pytest.approx(2000 / 3600)
    assert out["train_full_schedule_usd"] == pytest.approx(2000 / 3600 * 4.0)
    assert out["train_gpu_reserved_peak_gib"] == 1.5
    assert out["train_iters"] == 30.0 and out["train_full_schedule_epochs"] == 100.0
    assert "train_full_schedule_cpu_hours" not in out


def test_a_cpu_trial_is_priced_in_cpu_hours_without_dollars():
    spec = _spec(full_schedule_epochs=10)
    out = training_cost_metrics(spec, _prepared(), _result("cpu", 2.0), arch=None)
    assert out["train_full_schedule_cpu_hours"] == pytest.approx(10 * 400 / 2.0 / 3600)
    assert "train_full_schedule_usd" not in out and "train_full_schedule_gpu_hours" not in out


def test_no_throughput_gives_no_hours():
    out = training_cost_metrics(_spec(full_schedule_epochs=1), _prepared(), _result("cpu", 0), None)
    assert out["train_full_schedule_cpu_hours"] != out["train_full_schedule_cpu_hours"]  # NaN


def test_labels_are_priced_for_the_images_used_and_the_whole_split():
    out = label_cost_metrics(_spec(), _prepared(train_images=400, units=3.0))
    # half of 400 images x 3 boxes at 0.05 / 0.10 / 0.20 USD a box (the default box prices)
    assert out["labelled_images"] == 200.0 and out["label_units"] == 600.0
    assert out["label_cost_low_usd"] == pytest.approx(30.0)
    assert out["label_cost_usd"] == pytest.approx(60.0)
    assert out["label_cost_high_usd"] == pytest.approx(120.0)
    assert out["label_cost_full_usd"] == pytest.approx(120.0)
