"""One policy for the parts of a trial that may fail without failing it (PyTorch scored at the
deployment size, TTA, ONNX Runtime): each made to fail on purpose keeps the trial ok, is stored
with its kind (a documented limit or an error), and is read as such by the recommendation and
the report; boxes dropped for inf/nan values are counted."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from benchsel.pipeline.executors import LocalExecutor
from benchsel.pipeline.run import run_suite
from benchsel.predictions import Detections
from benchsel.recommend import recommend
from benchsel.report.render import build_report
from benchsel.store import ResultsStore, TrialRecord
from benchsel.store.failures import (
    FAILURES_KEY,
    MeasurementFailure,
    failure_of,
    failures_of,
    guarded,
    runtime_disagreement,
)
from benchsel.suite import load_suite

INTERNAL = "internal error in the exporter (made on purpose)"


# ---------------------------------------------------------------- the guard, the record


class _Limit(RuntimeError):
    unsupported = True


def _raise(exc: Exception) -> Any:
    raise exc


def test_a_limit_and_an_error_are_recorded_apart_and_the_list_keeps_both():
    conditions: dict[str, Any] = {"onnxruntime": {"kept": 1}}
    assert guarded("tta", conditions, lambda: _raise(_Limit("no merge for masks"))) is None
    assert guarded("onnxruntime", conditions, lambda: _raise(KeyError("boxes"))) is None
    assert guarded("deploy_accuracy", conditions, lambda: 42) == 42
    tta, ort = conditions["tta"]["failure"], conditions["onnxruntime"]["failure"]
    assert tta["kind"] == "unsupported" and tta["type"] == "_Limit" and tta["traceback"] == ""
    assert ort["kind"] == "error" and ort["type"] == "KeyError" and ort["message"] == "'boxes'"
    assert "test_failures.py" in ort["where"] and "_raise" in ort["where"]
    assert "KeyError" in ort["traceback"] and "Traceback" in ort["traceback"]
    assert conditions["onnxruntime"]["kept"] == 1  # what the part stored before stays
    # the one-line reasons older readers take
    assert conditions["tta"]["unavailable"] == "no merge for masks"
    assert conditions["onnxruntime"]["export_error"] == "ONNX Runtime failed: KeyError: 'boxes'"
    assert [f["part"] for f in conditions[FAILURES_KEY]] == ["tta", "onnxruntime"]
    assert [f.kind for f in failures_of(conditions)] == ["unsupported", "error"]
    assert "deploy_accuracy" not in conditions


def test_results_stored_before_the_record_are_still_read():
    old_limit = {"onnxruntime": {"export_error": "mask-rcnn-r50 cannot be served: RoIAlign"}}
    old_error = {"onnxruntime": {"export_error": "ONNX Runtime failed: ValueError: x\n  File"}}
    old_tta = {"tta": {"unavailable": "TTA failed: RuntimeError: y"}}
    limit = failure_of(old_limit, "onnxruntime")
    assert limit is not None and limit.unsupported and "RoIAlign" in limit.message
    error = failure_of(old_error, "onnxruntime")
    assert error is not None and not error.unsupported and error.summary() == "ValueError: x"
    tta = failure_of(old_tta, "tta")
    assert tta is not None and tta.kind == "error"
    assert [f.part for f in failures_of(old_limit | old_tta)] == ["tta", "onnxruntime"]
    assert (
        failure_of({"onnxruntime": {"agreement": "within tolerance 0.005"}}, "onnxruntime") is None
    )
    # agreement: the boolean where stored, the text in older results
    assert runtime_disagreement({"agrees": False, "agreement": "DISAGREES: -0.2"}) == (
        "DISAGREES: -0.2"
    )
    assert runtime_disagreement({"agrees": None, "agreement": "not checked: ..."}) is None
    assert runtime_disagreement({"agreement": "DISAGREES: old"}) == "DISAGREES: old"
    assert runtime_disagreement({"agreement": "within tolerance 0.005"}) is None


# ---------------------------------------------------------------- dropped non-finite boxes


def test_non_finite_boxes_are_counted_where_they_are_dropped_and_per_evaluation(tmp_path):
    import torch
    from mmengine.structures import InstanceData
    from PIL import Image

    from benchsel.adapters.mmdet import MMDetModel
    from benchsel.data.types import Dataset, ImageRecord, Instance
    from benchsel.evaluation.driver import evaluate_model

    inst = InstanceData()
    inst.bboxes = torch.tensor(
        [[1.0, 1.0, 5.0, 5.0], [0.0, math.inf, 2.0, 2.0], [math.nan, 0, 1, 1], [2, 2, 4, 4]]
    )
    inst.scores = torch.tensor([0.9, 0.8, 0.7, math.nan])
    inst.labels = torch.tensor([0, 0, 0, 0])
    adapter = object.__new__(MMDetModel)  # _convert reads the task alone
    adapter.task = "detection"
    converted = adapter._convert(SimpleNamespace(pred_instances=inst, ori_shape=(8, 8)))
    assert isinstance(converted, Detections)
    assert len(converted) == 1 and converted.dropped_nonfinite == 3

    images = []
    for i in range(2):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
        box = Instance(id=i + 1, label=0, box=(1.0, 1.0, 5.0, 5.0), area=16.0)
        images.append(ImageRecord(id=i + 1, file=path, width=8, height=8, instances=[box]))
    val = Dataset("v", "coco", tmp_path, classes=["a"], num_things=1, images=images)

    class Model:
        def predict(self, batch):
            return [converted]

    result = evaluate_model(Model(), "detection", val)  # type: ignore[arg-type]
    assert result.metrics["dropped_nonfinite_boxes"] == 6.0


# ---------------------------------------------------------------- a trial made to fail


def _run(
    tmp_path: Path, *, tta: bool, onnxruntime: bool, size: int = 32, deploy: int = 32
) -> TrialRecord:
    """rtmdet-tiny as built (no fine-tuning) on 8 generated images, in this process."""
    measurement: dict[str, Any] = {
        "batch_sizes": [1],
        "device": "cpu",
        "min_iters": 1,
        "min_seconds": 0,
        "warmup_iters": 0,
        "tta": tta,
        "runtimes": ["pytorch", "onnxruntime"] if onnxruntime else ["pytorch"],
        "input_size": [deploy, deploy],
    }
    suite = {
        "name": "t",
        "dataset": {"sample": {"images": 8, "size": 64, "seed": 0}},
        "candidates": [{"id": "rtmdet-tiny", "task": "detection", "input_size": [size, size]}],
        "training": {"iterations": 0, "batch_size": 2},
        "measurement": measurement,
        "output": "out",
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    summary = run_suite(load_suite(path), executor=LocalExecutor())
    with ResultsStore(summary.store_path) as store:
        (trial,) = store.trials()
    assert trial.status == "ok", trial.error
    return trial


def _store(tmp_path: Path) -> Path:
    return tmp_path / "out" / "t.sqlite"


def _page(tmp_path: Path) -> str:
    with ResultsStore(_store(tmp_path)) as store:
        return build_report(store)


def _onnx_reasons(trial: TrialRecord) -> list[str]:
    rec = recommend([trial], "detection", runtime="onnxruntime")
    assert rec.recommended is None and len(rec.rejected) == 1
    return rec.rejected[0].reasons


@pytest.mark.slow
def test_an_internal_onnx_export_error_is_a_measurement_failure_everywhere(
    tmp_path, monkeypatch, benchsel
):
    import torch

    def broken_export(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(INTERNAL)

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    trial = _run(tmp_path, tta=False, onnxruntime=True)
    ort = trial.conditions["onnxruntime"]
    assert ort["failure"]["kind"] == "error" and ort["failure"]["type"] == "OnnxExportFailed"
    assert INTERNAL in ort["failure"]["message"] and "Traceback" in ort["failure"]["traceback"]
    assert trial.conditions[FAILURES_KEY] == [ort["failure"]]
    assert not any(k.startswith("onnxruntime_") for k in trial.metrics)
    assert trial.metrics["accuracy"] is not None and (trial.metrics["latency_e2e_p50_ms"] or 0) > 0
    (reason,) = _onnx_reasons(trial)
    assert reason.startswith("ONNX Runtime measurement failed: OnnxExportFailed: ")
    assert INTERNAL in reason and "does not export" not in reason
    args = ("recommend", "--task", "detection", "--results", str(_store(tmp_path)))
    cli = benchsel(*args, "--runtime", "onnxruntime", "--json")
    assert cli.code == 0, cli.output
    (rejected,) = cli.report()["rejected"]
    assert rejected["reasons"] == [reason]
    console = benchsel(*args, "--runtime", "onnxruntime")
    assert "ONNX Runtime measurement failed: OnnxExportFailed" in console.stdout, console.output
    assert "does not export" not in console.stdout
    page = _page(tmp_path)
    assert 'class="unavailable measurement-failed"' in page
    assert "ONNX Runtime measurement failed: OnnxExportFailed" in page
    assert "ONNX Runtime: error: OnnxExportFailed" in page  # the conditions table lists it


@pytest.mark.slow
def test_a_documented_export_limit_says_it_does_not_export(tmp_path, monkeypatch):
    from benchsel.adapters.serve import onnx_runtime

    limit = "mmcv.ops.RoIAlign: pools RoI features with a compiled mmcv kernel (on purpose)"
    monkeypatch.setattr(onnx_runtime, "unsupported_reason", lambda base: limit)
    trial = _run(tmp_path, tta=False, onnxruntime=True)
    failure = failure_of(trial.conditions, "onnxruntime")
    assert failure is not None and failure.kind == "unsupported"
    assert failure.type == "OnnxExportUnsupported" and limit in failure.message
    (reason,) = _onnx_reasons(trial)
    assert reason.startswith("it does not export to onnxruntime: ") and limit in reason
    page = _page(tmp_path)
    assert 'class="unavailable export-unsupported"' in page and "does not export to ONNX" in page


@pytest.mark.slow
def test_a_tta_failure_keeps_the_trial_and_says_it_failed(tmp_path, monkeypatch):
    from benchsel.adapters.serve import tta

    def broken(model: Any, **kwargs: Any) -> Any:
        raise ValueError("TestTimeAug blew up (on purpose)")

    monkeypatch.setattr(tta, "build_tta", broken)
    trial = _run(tmp_path, tta=True, onnxruntime=False)
    failure = failure_of(trial.conditions, "tta")
    assert failure is not None and failure.kind == "error" and failure.type == "ValueError"
    assert "test_failures.py:" in failure.where and failure.where.endswith(" broken")
    assert trial.conditions["tta"]["unavailable"].startswith("TTA failed: ValueError: ")
    assert [f.part for f in failures_of(trial.conditions)] == ["tta"]
    assert "tta_accuracy" not in trial.metrics
    page = _page(tmp_path)
    assert "TTA measurement failed: ValueError: TestTimeAug blew up" in page
    assert "TTA not available upstream" not in page


@pytest.mark.slow
def test_a_failed_deployment_size_evaluation_keeps_the_trial_and_tta_says_why_no_gain(
    tmp_path, monkeypatch
):
    from benchsel.pipeline import deployed as deployed_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("deployment-size evaluation failed (on purpose)")

    monkeypatch.setattr(deployed_module, "_evaluate_at_deployment_size", broken)
    # deployed at 64, trained at 32: TTA's scales (32, 64, 96) stay multiples of 32
    trial = _run(tmp_path, tta=True, onnxruntime=False, size=32, deploy=64)
    failure = failure_of(trial.conditions, "deploy_accuracy")
    assert failure is not None and failure.kind == "error" and failure.type == "RuntimeError"
    assert [f.part for f in failures_of(trial.conditions)] == ["deploy_accuracy"]
    assert "deploy_accuracy" not in trial.metrics
    # TTA still ran at the deployment size; with nothing to pair with, no gain and why
    assert trial.metrics["tta_accuracy"] is not None and (trial.metrics["tta_views"] or 0) >= 2
    assert "tta_gain" not in trial.metrics
    assert "not measured" in trial.conditions["tta"]["difference"]
    assert [o.id for o in recommend([trial], "detection").ranking] == ["rtmdet-tiny"]
    page = _page(tmp_path)
    assert "PyTorch at the deployment size: error: RuntimeError: deployment-size" in page
    assert "not scored at the deployment size" in page  # the TTA row's plain column


def test_onnxruntime_without_a_pytorch_score_does_not_check_agreement(tmp_path, monkeypatch):
    """measure_onnxruntime with PyTorch unscored (NaN): no delta, agreement not checked."""
    from benchsel.adapters.serve import onnx_runtime
    from benchsel.pipeline import deployed

    class Served:
        threads = 1
        output_max_abs_diff = 0.0
        export_report = onnx_runtime.ExportReport(0.1, 18, 1.0, [], [[1, 3, 8, 8]])

    monkeypatch.setattr(onnx_runtime, "OnnxRuntimeModel", lambda *a, **k: Served())
    scored = {"onnxruntime_accuracy": 0.3}
    monkeypatch.setattr(deployed, "score_and_time", lambda *a, **k: (dict(scored), {}))
    settings = SimpleNamespace(threads=1)

    def measure(plain_accuracy: float) -> dict[str, Any]:
        args: list[Any] = [None, "detection", None, {}, plain_accuracy, [], settings, tmp_path]
        return deployed.measure_onnxruntime(*args)[1]

    unscored = measure(math.nan)
    assert unscored["agrees"] is None and unscored["agreement"].startswith("not checked")
    assert runtime_disagreement(unscored) is None
    assert measure(0.3)["agrees"] is True
    disagreeing = measure(0.5)
    assert disagreeing["agrees"] is False and disagreeing["agreement"].startswith("DISAGREES")
    assert runtime_disagreement(disagreeing) == disagreeing["agreement"]


def test_the_report_lists_dropped_boxes_only_when_there_are_some(tmp_path):
    def trial(arch_id: str, dropped: float) -> TrialRecord:
        return TrialRecord(
            hash=arch_id, suite_name="s", arch_id=arch_id, family="yolo", task="detection",
            variant="default", loss=None, data_fraction=1.0, seed=0, spec={}, status="ok",
            conditions={"speed": [{"device": "cpu", "batch": 1}]},
            metrics={"accuracy": 0.3, "latency_e2e_p50_ms": 20.0,
                     "dropped_nonfinite_boxes": dropped},
        )  # fmt: skip

    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.start_run("s", {}, {}, {"prepared": {"classes": ["a"], "num_things": 1}})
        store.save_trial(trial("rtmdet-tiny", 7.0))
        store.save_trial(trial("yolov8-n", 0.0))
        page = build_report(store)
    assert page.count("boxes with inf/nan coordinates or scores dropped before scoring") == 1
    assert "7 boxes with inf/nan" in page


def test_measurement_failure_summary_is_one_line():
    failure = MeasurementFailure("tta", "error", "ValueError", "first\nsecond", "x.py:1 in f")
    assert failure.summary() == "ValueError: first"
    limit = MeasurementFailure("tta", "unsupported", "TTANotAvailable", "TTA not available", "")
    assert limit.summary() == "TTA not available"
