"""Per-class figures: the heatmap of per-class scores, per-class scores with their 95%
intervals, and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.common import base_layout, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import task_info


def class_heatmap(
    trials: list[TrialRecord], task: str, classes: list[str]
) -> dict[str, Any] | None:
    """Per-class AP (detection, instance, panoptic PQ) or IoU (semantic), trials x classes."""
    metric = task_info(task).class_metric
    prefix = f"{metric}/"
    rows = ok_trials(trials, task)
    names = classes or sorted(
        {k[len(prefix) :] for t in rows for k in t.metrics if k.startswith(prefix)}
    )
    names = [n for n in names if any(f"{prefix}{n}" in t.metrics for t in rows)]
    if not rows or not names:
        return None
    z = [[_num(t.metrics.get(prefix + n)) for n in names] for t in rows]
    data = [
        {
            "type": "heatmap",
            "z": z,
            "x": [esc(n) for n in names],
            "y": [esc(t.label) for t in rows],
            "colorscale": "Viridis",
            "zmin": 0,
            "zmax": 1,
            "hovertemplate": "%{y}<br>%{x}: %{z:.3f}<extra></extra>",
        }
    ]
    layout = base_layout(f"{task}: per-class {metric}", "class", "trial")
    layout["height"] = max(300, 60 + 40 * len(rows))
    layout["margin"]["l"] = 220
    return {"data": data, "layout": layout}


def class_scores(trials: list[TrialRecord], task: str, classes: list[str]) -> dict[str, Any] | None:
    """Per-class AP (or IoU; semantic IoU for panoptic) per trial with its 95% bootstrap interval
    where stored."""
    metric = task_info(task).class_interval_metric
    prefix = f"{metric}/"
    rows = ok_trials(trials, task)
    names = [n for n in classes if any(_num(t.metrics.get(prefix + n)) is not None for t in rows)]
    if not rows or not names:
        return None
    data = []
    for t in rows:
        ys = [_num(t.metrics.get(prefix + n)) for n in names]
        plus, minus = [], []
        for n, y in zip(names, ys, strict=True):
            lo = _num(t.metrics.get(f"{prefix}{n}_ci_low"))
            hi = _num(t.metrics.get(f"{prefix}{n}_ci_high"))
            plus.append(max(0.0, hi - y) if hi is not None and y is not None else 0.0)
            minus.append(max(0.0, y - lo) if lo is not None and y is not None else 0.0)
        data.append(
            {
                "type": "bar",
                "name": esc(t.label),
                "x": [esc(n) for n in names],
                "y": ys,
                "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
                "hovertemplate": esc(t.label) + "<br>%{x}: %{y:.3f}<extra></extra>",
            }
        )
    layout = base_layout(f"{task}: per-class {metric} with 95% intervals", "class", metric)
    layout["barmode"] = "group"
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}


def confusion(t: TrialRecord) -> dict[str, Any] | None:
    """The trial's confusion matrix, each row as fractions of its labelled total (counts on
    hover); for detection a background row and column."""
    stored = t.curves.get("confusion")
    if not stored or not stored.get("matrix"):
        return None
    counts = np.asarray(stored["matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    labels = [esc(n) for n in stored["labels"]]
    data = [
        {
            "type": "heatmap",
            "z": share.round(4).tolist(),
            "customdata": counts.astype(int).tolist(),
            "x": labels,
            "y": labels,
            "colorscale": "Blues",
            "reversescale": True,  # plotly's Blues runs dark to light
            "zmin": 0,
            "zmax": 1,
            "hovertemplate": "labelled %{y}<br>predicted %{x}<br>%{customdata} "
            + esc(str(stored.get("unit", "")))
            + " (%{z:.2f} of the row)<extra></extra>",
        }
    ]
    layout = base_layout(f"{t.task}: confusion of {t.label}", "predicted class", "labelled class")
    layout["yaxis"]["autorange"] = "reversed"
    layout["margin"]["l"] = 140
    return {"data": data, "layout": layout}
