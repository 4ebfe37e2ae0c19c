"""One helper reads a recommendation's inputs from a suite, for the run, the report and the CLI."""

from __future__ import annotations

import json

import pytest

from benchsel.errors import BenchselError
from benchsel.recommend.inputs import recommendation_inputs
from benchsel.suite import Constraints, LabellingPrices, PriceRange, parse_suite

SUITE = {
    "name": "s",
    "task": "detection",
    "dataset": {"path": "d"},
    "candidates": [{"id": "rtmdet-tiny"}],
    "constraints": {"min_fps": 30, "gpu_budget_usd": 100, "margin": 0.05},
    "labelling": {"box": {"low": 0.1, "typical": 0.2, "high": 0.4}},
    "cost": {"gpu_hour_usd": 10.0},
}


def test_no_suite_gives_the_defaults():
    inputs = recommendation_inputs(None)
    assert inputs.constraints == Constraints()
    assert inputs.prices == LabellingPrices()
    assert inputs.gpu_hour_usd == 2.5 and inputs.runtime == "pytorch"


def test_a_loaded_suite_and_the_suite_a_run_stored_give_the_same_inputs():
    suite = parse_suite(SUITE)
    stored = json.loads(suite.model_dump_json())  # what pipeline/run.py stores
    assert recommendation_inputs(suite) == recommendation_inputs(stored)
    inputs = recommendation_inputs(stored)
    assert inputs.constraints.min_fps == 30 and inputs.constraints.margin == 0.05
    assert inputs.prices.box == PriceRange(low=0.1, typical=0.2, high=0.4)
    assert inputs.gpu_hour_usd == 10.0


def test_the_command_lines_constraints_replace_the_suites_but_keep_its_margin():
    flags = {"max_latency_ms": 50.0, "domain": "medical"}
    inputs = recommendation_inputs(SUITE, flags, runtime="onnxruntime")
    assert inputs.constraints == Constraints(max_latency_ms=50, domain="medical", margin=0.05)
    assert inputs.runtime == "onnxruntime" and inputs.gpu_hour_usd == 10.0
    own = recommendation_inputs(SUITE, {**flags, "margin": 0.2}, gpu_hour_usd=1.0)
    assert own.constraints.margin == 0.2 and own.gpu_hour_usd == 1.0


def test_invalid_values_are_a_user_error_naming_the_key():
    with pytest.raises(BenchselError, match="target_accuracy"):
        recommendation_inputs(None, {"target_accuracy": 1.5})
    with pytest.raises(BenchselError, match="gpu_hour_usd"):
        recommendation_inputs({"cost": {"gpu_hour_usd": -1}})
