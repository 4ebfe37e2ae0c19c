"""Options: the candidates as the recommender sees them, averaged from trials or published."""

from __future__ import annotations

import pytest

from benchsel.catalog import load_catalog
from benchsel.recommend.options import Option, measured_options, prior_options
from benchsel.store import TrialRecord
from benchsel.suite import Constraints


def _trial(
    arch: str = "rtmdet-tiny",
    task: str = "detection",
    fraction: float = 1.0,
    seed: int = 0,
    status: str = "ok",
    conditions: dict | None = None,
    **metrics: float,
) -> TrialRecord:
    return TrialRecord(
        hash=f"{arch}-{task}-{fraction}-{seed}",
        suite_name="s",
        arch_id=arch,
        family="yolo",
        task=task,
        variant="default",
        loss=None,
        data_fraction=fraction,
        seed=seed,
        spec={"training": {"batch_size": 4, "iterations": 100}},
        status=status,
        conditions=conditions if conditions is not None else {"device": "cuda:0"},
        metrics={"labelled_images": 1000.0 * fraction, **metrics},
    )


def test_seeds_are_averaged_and_failed_seeds_counted_as_planned():
    trials = [
        _trial(seed=0, accuracy=0.40, latency_e2e_p50_ms=20.0, train_iters=100),
        _trial(seed=1, accuracy=0.44, latency_e2e_p50_ms=30.0, train_iters=90),
        _trial(seed=2, status="failed"),
    ]
    (o,) = measured_options(trials, "detection", Constraints())
    assert o.accuracy == pytest.approx(0.42)
    assert (o.seed_min, o.seed_max) == (0.40, 0.44)
    assert o.latency_ms == pytest.approx(25.0) and o.fps == pytest.approx(40.0)  # from the p50
    assert (o.seeds, o.seeds_planned) == (2, 3)
    assert o.budget["iterations"] == 100 and o.budget["images_seen"] == 400
    assert o.on_gpu and o.accuracy_metric == "bbox_AP" and o.name == "rtmdet-tiny"
    assert o.speed_basis == "measured: cuda:0, batch 1, fp32, end to end"


def test_the_largest_affordable_data_fraction_is_used():
    trials = [
        _trial(fraction=0.25, accuracy=0.2),
        _trial(fraction=0.5, accuracy=0.3),
        _trial(fraction=1.0, accuracy=0.4),
    ]
    (everything,) = measured_options(trials, "detection", Constraints())
    assert everything.accuracy == 0.4 and everything.labelled_images == 1000
    (affordable,) = measured_options(trials, "detection", Constraints(labelled_images=600))
    assert affordable.accuracy == 0.3 and affordable.labelled_images == 500
    # fewer images than any fraction has: the smallest fraction, not nothing
    (smallest,) = measured_options(trials, "detection", Constraints(labelled_images=100))
    assert smallest.accuracy == 0.2


def test_a_richer_task_joins_with_its_score_on_this_one():
    trials = [_trial("mask-rcnn-r50", "instance", accuracy=0.35, bbox_AP=0.45)]
    (o,) = measured_options(trials, "detection", Constraints())
    assert o.accuracy == 0.45 and o.measured_task == "instance"
    assert o.name == "mask-rcnn-r50 (instance model)"
    assert measured_options(trials, "semantic", Constraints()) == []


def test_deployed_runtime_speed_and_why_a_model_cannot_be_deployed():
    agrees = {"device": "cpu", "onnxruntime": {"device": "cpu (CPUExecutionProvider)"}}
    fine = _trial(accuracy=0.4, onnxruntime_latency_e2e_p50_ms=50.0, conditions=agrees)
    (o,) = measured_options([fine], "detection", Constraints(), runtime="onnxruntime")
    assert o.latency_ms == 50.0 and o.fps == pytest.approx(20.0) and o.runtime_error is None
    assert o.speed_basis == (
        "measured on onnxruntime: cpu (CPUExecutionProvider), batch 1, fp32, end to end"
    )
    limit = {"onnxruntime": {"export_error": "RoIAlign has no export"}}
    (o,) = measured_options(
        [_trial(accuracy=0.4, conditions=limit)], "detection", Constraints(), "onnxruntime"
    )
    assert o.runtime_error == "it does not export to onnxruntime: RoIAlign has no export"
    disagrees = {"onnxruntime": {"agrees": False, "agreement": "max |diff| 0.3"}}
    (o,) = measured_options(
        [_trial(accuracy=0.4, conditions=disagrees)], "detection", Constraints(), "onnxruntime"
    )
    assert o.runtime_error == (
        "its accuracy on onnxruntime disagrees with PyTorch's: max |diff| 0.3"
    )
    (o,) = measured_options(
        [_trial(accuracy=0.4, conditions=disagrees)], "detection", Constraints()
    )
    assert o.runtime_error is None  # judged on PyTorch: the export does not matter


def test_cost_and_json_of_an_option():
    o = Option("a", "yolo", accuracy=0.5, label_cost_usd=120.0, train_usd=30.5)
    assert o.cost_usd == pytest.approx(150.5)
    assert Option("b", "yolo").cost_usd == 0.0
    data = o.to_dict()
    assert data["name"] == "a" and "state_blobs" not in data and "metric_key" not in data


def test_prior_options_are_the_catalog_entries_with_published_numbers():
    options = {o.id: o for o in prior_options("semantic")}
    expected = {a.id for a in load_catalog().architectures if "semantic" in a.tasks}
    assert set(options) == expected
    fcn = load_catalog().get("fcn-r50")
    o = options["fcn-r50"]
    assert o.basis == "prior"
    assert o.accuracy == pytest.approx(fcn.reference.metrics["mIoU"] / 100)
    assert o.accuracy_metric == f"mIoU (published, {fcn.reference.dataset})"
    ssd = {o.id: o for o in prior_options("detection")}["ssdlite-mobilenetv2"]
    ms = load_catalog().get("ssdlite-mobilenetv2").reference.inference_ms
    assert ssd.latency_ms == ms and ssd.fps == pytest.approx(1000 / ms)
