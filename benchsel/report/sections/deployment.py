"""The deployment sections of the report: test-time augmentation (its gain against the latency
it adds) and PyTorch against ONNX Runtime (latency, accuracy, agreement, the export), per task."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.deployment import runtime_latency, tta_tradeoff
from benchsel.report.page import PageFigures
from benchsel.report.reading import (
    PART_NAMES,
    gain_verdict,
    magnitude_decimals,
    measured_on_gpu,
    ok_trials,
    ratio,
    scientific,
    speed_conditions,
    tta_views,
    with_interval,
)
from benchsel.store import TrialRecord
from benchsel.store.failures import MeasurementFailure, failure_of
from benchsel.store.failures import runtime_disagreement as _disagreement
from benchsel.tasks import PRIMARY_METRIC


def tta_part(trials: list[TrialRecord], task: str, figs: PageFigures) -> dict[str, Any] | None:
    """A task's test-time augmentation table and gain-vs-latency plot (None without TTA data)."""
    rows = [
        t
        for t in ok_trials(trials, task)
        if t.conditions.get("tta") or _num(t.metrics.get("tta_accuracy")) is not None
    ]
    if not rows:
        return None
    table: list[dict[str, Any]] = []
    for t in rows:
        tta = t.conditions.get("tta") or {}
        failure = failure_of(t.conditions, "tta")
        if failure is not None:
            table.append(_failure_row(t.label, failure, ""))
            continue
        plain_ms = _num(t.metrics.get("latency_e2e_p50_ms"))
        tta_ms = _num(t.metrics.get("tta_latency_e2e_p50_ms"))
        table.append(
            {
                "label": t.label,
                "unavailable": None,
                "device": str(tta.get("device") or speed_conditions(t)),
                "views": tta_views(t),
                "setting": str(tta.get("setting", "-")),
                "plain": _plain(t),
                "tta": with_interval(t, "tta_accuracy"),
                "gain": with_interval(t, "tta_gain"),
                "verdict": gain_verdict(
                    _num(t.metrics.get("tta_gain_ci_low")), _num(t.metrics.get("tta_gain_ci_high"))
                ),
                "plain_ms": magnitude_decimals(plain_ms),
                "tta_ms": magnitude_decimals(tta_ms),
                "ratio": ratio(tta_ms, plain_ms),
            }
        )
    fig = tta_tradeoff(trials, task)
    if all(r["unavailable"] and not r["failed"] for r in table):
        instead: str | None = (
            f"No {task} candidate has test-time augmentation upstream (the table says why), "
            "so there is no gain to plot."
        )
    elif all(r["unavailable"] for r in table):
        instead = (
            f"No {task} candidate has a TTA measurement (the table says why), so there is no "
            "gain to plot."
        )
    elif fig is None:
        instead = (
            f"No {task} candidate stored both a TTA gain and both latencies, so there is no "
            "trade-off to plot."
        )
    else:
        instead = None
    metric = PRIMARY_METRIC[task]
    plot = figs.add(
        fig,
        f"Each point is one trial: the {metric} that test-time augmentation adds (TTA minus "
        "plain on the same val images; error bars: 95% paired bootstrap interval) against the "
        "end-to-end batch-1 p50 latency it adds, on the device in the table. Grey points' "
        "intervals contain 0: their gain is not separable from no gain.",
        instead,
    )
    return {"task": task, "metric": metric, "plot": plot, "rows": table}


def runtime_part(trials: list[TrialRecord], task: str, figs: PageFigures) -> dict[str, Any] | None:
    """A task's PyTorch vs ONNX Runtime latency plot and table (None without ORT data)."""
    rows = [
        t
        for t in ok_trials(trials, task)
        if t.conditions.get("onnxruntime")
        or _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms")) is not None
    ]
    if not rows:
        return None
    table: list[dict[str, Any]] = []
    disagreements: list[dict[str, str]] = []
    for t in rows:
        ort = t.conditions.get("onnxruntime") or {}
        failure = failure_of(t.conditions, "onnxruntime")
        if failure is not None:
            table.append(_failure_row(t.label, failure, "does not export to ONNX: "))
            continue
        agreement = str(ort.get("agreement") or "not checked")
        disagreement = _disagreement(ort)
        disagrees = disagreement is not None
        if disagreement is not None:
            disagreements.append({"label": t.label, "agreement": disagreement})
        torch_ms = _num(t.metrics.get("latency_e2e_p50_ms"))
        ort_ms = _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms"))
        threads = ort.get("threads")
        export = ort.get("export") or {}
        table.append(
            {
                "label": t.label,
                "torch_device": speed_conditions(t),
                "unavailable": None,
                "ort_device": str(ort.get("device") or "device not stored")
                + (f", {threads} threads" if threads else ""),
                "torch_ms": magnitude_decimals(torch_ms),
                "ort_ms": magnitude_decimals(ort_ms),
                "ratio": "n/a: PyTorch on GPU, ONNX Runtime on CPU"
                if measured_on_gpu(t)
                else ratio(torch_ms, ort_ms),
                "torch_acc": _plain(t),
                "ort_acc": with_interval(t, "onnxruntime_accuracy"),
                "delta": magnitude_decimals(_num(t.metrics.get("onnxruntime_accuracy_delta"))),
                "max_diff": scientific(_num(t.metrics.get("onnxruntime_output_max_abs_diff"))),
                "agreement": agreement,
                "disagrees": disagrees,
                "export_s": magnitude_decimals(_num(t.metrics.get("onnxruntime_export_s"))),
                "export": _export_summary(export),
                "export_details": "; ".join(f"{k}: {v}" for k, v in export.items())
                if isinstance(export, dict)
                else str(export),
            }
        )
    fig = runtime_latency(trials, task)
    instead = (
        None
        if fig is not None
        else f"No {task} candidate was timed in both runtimes (the table says why), so there "
        "is nothing to compare."
    )
    plot = figs.add(
        fig,
        "End-to-end batch-1 p50 latency (preprocess + forward + host postprocess) in PyTorch "
        "and in ONNX Runtime, on the devices in the table; the label on each ONNX Runtime bar "
        "is PyTorch/ONNX Runtime (above 1: ONNX Runtime is faster). Hover for the phases.",
        instead,
    )
    return {
        "task": task,
        "metric": PRIMARY_METRIC[task],
        "plot": plot,
        "rows": table,
        "disagreements": disagreements,
    }


def _plain_key(t: TrialRecord) -> str:
    """The PyTorch accuracy a deployed number (TTA, ONNX Runtime) is compared with: measured at
    the deployment size when that differs from the training size."""
    return "deploy_accuracy" if _num(t.metrics.get("deploy_accuracy")) is not None else "accuracy"


def _plain(t: TrialRecord) -> str:
    """That accuracy with its interval, or why there is none to compare with."""
    if failure_of(t.conditions, "deploy_accuracy") is not None:
        return "not scored at the deployment size (failed: see the conditions)"
    return with_interval(t, _plain_key(t))


def _failure_row(label: str, failure: MeasurementFailure, unsupported_text: str) -> dict[str, Any]:
    """A TTA or ONNX Runtime row that says why it has no numbers: a documented limit, or a
    measurement failure (with where it was raised)."""
    if failure.unsupported:
        reason = f"{unsupported_text}{failure.message}"
    else:
        reason = f"{PART_NAMES[failure.part]} measurement failed: {failure.summary()}"
    return {
        "label": label,
        "unavailable": reason,
        "failed": not failure.unsupported,
        "where": failure.traceback or failure.where,
    }


def _export_summary(export: Any) -> str:
    """``opset 20, 3.2 MB, one graph for every input shape``: the rest goes in a tooltip."""
    if not isinstance(export, dict):
        return str(export)
    parts = [f"opset {export['opset']}" if export.get("opset") else ""]
    if export.get("file_mb") is not None:
        parts.append(f"{float(export['file_mb']):.1f} MB")
    shapes = str(export.get("shapes") or "")
    parts.append(shapes.split(":")[0])
    return ", ".join(p for p in parts if p)
