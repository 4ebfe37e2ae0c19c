"""Deployment: the accuracy test-time augmentation gains against the latency it adds, and
PyTorch against ONNX Runtime latency."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.common import base_layout, error_bars, esc
from benchsel.report.reading import gain_verdict, measured_on_gpu, ok_trials, tta_views
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY

# verdict -> (legend entry, colour)
GAIN_TRACES = {
    "gain": ("gain (interval above 0)", "#2ca02c"),
    "not separable from no gain": ("not separable from no gain (interval contains 0)", "#7f7f7f"),
    "loss": ("loss (interval below 0)", "#d62728"),
    "no interval": ("gain without a stored interval", "#1f77b4"),
}


def tta_tradeoff(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """Accuracy gained by test-time augmentation (paired, with its interval) against the
    latency it adds, one point per trial, coloured by whether the gain is separable from 0."""
    metric = PRIMARY[task]
    groups: dict[str, list[tuple[TrialRecord, float, float, float | None]]] = defaultdict(list)
    for t in ok_trials(trials, task):
        gain = _num(t.metrics.get("tta_gain"))
        tta_ms = _num(t.metrics.get("tta_latency_e2e_p50_ms"))
        plain_ms = _num(t.metrics.get("latency_e2e_p50_ms"))
        if gain is None or tta_ms is None or plain_ms is None:
            continue
        ratio = tta_ms / plain_ms if plain_ms > 0 else None
        verdict = gain_verdict(
            _num(t.metrics.get("tta_gain_ci_low")), _num(t.metrics.get("tta_gain_ci_high"))
        )
        groups[verdict].append((t, tta_ms - plain_ms, gain, ratio))
    if not groups:
        return None
    data = []
    for verdict, (name, colour) in GAIN_TRACES.items():
        pts = groups.get(verdict)
        if not pts:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": name,
                "x": [p[1] for p in pts],
                "y": [p[2] for p in pts],
                "text": [esc(p[0].label) for p in pts],
                "textposition": "top center",
                "customdata": [[tta_views(p[0]), p[3]] for p in pts],
                "marker": {"size": 11, "color": colour},
                "error_y": error_bars([p[0] for p in pts], [p[2] for p in pts], "tta_gain"),
                "hovertemplate": "%{text}<br>%{customdata[0]} views<br>latency paid %{x:.1f} ms "
                "(TTA/plain %{customdata[1]:.2f}x)<br>"
                + metric
                + " gained %{y:.3f}<extra></extra>",
            }
        )
    layout = base_layout(
        f"{task}: accuracy gained by test-time augmentation vs latency paid",
        "latency paid: TTA e2e p50 minus plain e2e p50 (ms, batch 1)",
        f"{metric} gained (TTA minus plain, paired)",
    )
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": 0,
            "y1": 0,
            "line": {"color": "#888", "dash": "dash"},
        }
    ]
    layout["annotations"] = [
        {
            "xref": "paper",
            "x": 1,
            "y": 0,
            "xanchor": "right",
            "yanchor": "bottom",
            "showarrow": False,
            "text": "no gain",
            "font": {"color": "#888"},
        }
    ]
    return {"data": data, "layout": layout}


def runtime_latency(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """End-to-end batch-1 p50 latency per trial in PyTorch and in ONNX Runtime, the ratio
    PyTorch/ONNX Runtime on the ONNX Runtime bar."""
    rows = [
        t
        for t in ok_trials(trials, task)
        if _num(t.metrics.get("latency_e2e_p50_ms")) is not None
        and _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms")) is not None
    ]
    if not rows:
        return None
    names = [esc(t.label) for t in rows]
    phases = ("preprocess", "forward", "postprocess")
    data = []
    for runtime, prefix in (("PyTorch", ""), ("ONNX Runtime", "onnxruntime_")):
        e2e = [_num(t.metrics.get(f"{prefix}latency_e2e_p50_ms")) for t in rows]
        ratio = [
            torch_ms / ort_ms if torch_ms is not None and ort_ms else None
            for torch_ms, ort_ms in (
                (
                    _num(t.metrics.get("latency_e2e_p50_ms")),
                    _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms")),
                )
                for t in rows
            )
        ]
        trace: dict[str, Any] = {
            "type": "bar",
            "name": runtime,
            "x": names,
            "y": e2e,
            "customdata": [
                [r, *(_num(t.metrics.get(f"{prefix}latency_{p}_p50_ms")) for p in phases)]
                for t, r in zip(rows, ratio, strict=True)
            ],
            "hovertemplate": "%{x}<br>"
            + runtime
            + " e2e p50 %{y:.2f} ms<br>preprocess %{customdata[1]:.2f}, forward "
            "%{customdata[2]:.2f}, postprocess %{customdata[3]:.2f} ms"
            "<br>PyTorch/ONNX Runtime %{customdata[0]:.2f}x<extra></extra>",
        }
        if prefix:  # a GPU PyTorch against a CPU ONNX Runtime is no like-for-like ratio
            trace["text"] = [
                "PyTorch on GPU" if measured_on_gpu(t) else f"{r:.2f}x" if r is not None else ""
                for t, r in zip(rows, ratio, strict=True)
            ]
            trace["textposition"] = "outside"
        data.append(trace)
    layout = base_layout(
        f"{task}: PyTorch vs ONNX Runtime latency (label: PyTorch/ONNX Runtime)",
        "trial",
        "e2e p50 latency, ms (batch 1)",
    )
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}
