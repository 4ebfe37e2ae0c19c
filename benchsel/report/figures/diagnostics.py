"""Why a model wins or loses: AP lost to each error type (TIDE), COCO's analysis steps, F1
against the confidence threshold."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.common import base_layout, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord


def error_breakdown(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """TIDE's dAP per error type, one bar group per type, one bar per trial."""
    from benchsel.evaluation.error_analysis import TIDE_ERRORS, TIDE_NAMES, TIDE_SPECIAL

    kinds = [*TIDE_ERRORS, *TIDE_SPECIAL]
    rows = [t for t in ok_trials(trials, task) if t.metrics.get("tide_AP50") is not None]
    if not rows:
        return None
    data = [
        {
            "type": "bar",
            "name": esc(t.label),
            "x": [k if k in TIDE_ERRORS else f"all {k.upper()}" for k in kinds],
            "y": [_num(t.metrics.get(f"tide_{k}")) for k in kinds],
            "customdata": [TIDE_NAMES[k] for k in kinds],
            "hovertemplate": esc(t.label) + "<br>%{customdata}: dAP %{y:.3f}<extra></extra>",
        }
        for t in rows
    ]
    layout = base_layout(
        f"{task}: AP lost to each error type (TIDE)", "error type", "dAP (fraction of AP)"
    )
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


def coco_analysis(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """The COCO analysis steps (C75 ... FN): AP as each error kind is forgiven in turn."""
    from benchsel.evaluation.error_analysis import ANALYSIS_STEPS

    rows = [t for t in ok_trials(trials, task) if t.metrics.get("analysis_C50") is not None]
    if not rows:
        return None
    data = []
    for t in rows:
        steps = [s for s in ANALYSIS_STEPS if t.metrics.get(f"analysis_{s}") is not None]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": esc(t.label),
                "x": steps,
                "y": [_num(t.metrics.get(f"analysis_{s}")) for s in steps],
                "hovertemplate": esc(t.label) + "<br>%{x}: AP %{y:.3f}<extra></extra>",
            }
        )
    layout = base_layout(f"{task}: AP as errors are forgiven (COCO analysis)", "step", "AP")
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}


def f1_curves(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """Mean F1 over classes against the confidence threshold, the chosen threshold marked."""
    data: list[dict[str, Any]] = []
    for t in ok_trials(trials, task):
        curve = t.curves.get("f1")
        if not curve or not curve.get("thresholds"):
            continue
        best = curve.get("best_threshold")
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": esc(t.label),
                "x": curve["thresholds"],
                "y": curve["mean_f1"],
                "hovertemplate": esc(t.label)
                + "<br>threshold %{x:.2f}: F1 %{y:.3f}<extra></extra>",
            }
        )
        if best is not None:
            i = curve["thresholds"].index(best) if best in curve["thresholds"] else 0
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": esc(t.label) + " best",
                    "x": [best],
                    "y": [curve["mean_f1"][i]],
                    "text": [f"{best:.2f}"],
                    "textposition": "top center",
                    "marker": {"size": 11, "symbol": "star"},
                    "showlegend": False,
                    "hovertemplate": esc(t.label)
                    + "<br>F1-best threshold %{x:.2f}: F1 %{y:.3f}<extra></extra>",
                }
            )
    if not data:
        return None
    layout = base_layout(
        f"{task}: F1 against confidence (IoU 0.5, mean over classes)",
        "confidence threshold",
        "F1",
    )
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}
