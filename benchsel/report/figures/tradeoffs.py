"""Accuracy against a cost axis (latency, FLOPs, labelling dollars), one trace per family, the
Pareto front drawn; and why such a plot would carry no information."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.recommend import Recommendation
from benchsel.report.figures.common import base_layout, error_bars, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY


def scatter(
    trials: list[TrialRecord],
    task: str,
    x_key: str,
    x_title: str,
    rec: Recommendation | None,
    fps_line: float | None = None,
    log_x: bool = False,
) -> dict[str, Any] | None:
    """Accuracy against one cost axis, one trace per family; the Pareto front drawn as a line."""
    metric = PRIMARY[task]
    points: list[tuple[TrialRecord, float, float]] = []
    for t in ok_trials(trials, task):
        x, y = _num(t.metrics.get(x_key)), _num(t.metrics.get("accuracy"))
        if x is not None and y is not None:
            points.append((t, x, y))
    if not points:
        return None
    by_family: dict[str, list[tuple[TrialRecord, float, float]]] = defaultdict(list)
    for p in points:
        by_family[p[0].family].append(p)
    data: list[dict[str, Any]] = []
    for family, pts in sorted(by_family.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": esc(family),
                "x": [p[1] for p in pts],
                "y": [p[2] for p in pts],
                "text": [esc(p[0].label) for p in pts],
                "textposition": "top center",
                "marker": {"size": 11},
                "error_y": error_bars([p[0] for p in pts], [p[2] for p in pts]),
                "hovertemplate": "%{text}<br>"
                + x_title
                + " %{x:.3g}<br>"
                + metric
                + " %{y:.3f}<extra></extra>",
            }
        )
    if rec is not None:
        front = [p for p in points if _on_front(rec, p[0])]
        if len(front) > 1:
            front.sort(key=lambda p: p[1])
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "Pareto front",
                    "x": [p[1] for p in front],
                    "y": [p[2] for p in front],
                    "line": {"dash": "dot", "color": "#888"},
                    "hoverinfo": "skip",
                }
            )
    layout = base_layout(f"{task}: {metric} vs {x_title}", x_title, metric)
    layout["yaxis"]["range"] = [0, 1.05]
    if log_x:
        layout["xaxis"]["type"] = "log"
    if fps_line:
        limit = 1000.0 / fps_line
        layout["shapes"] = [
            {
                "type": "line",
                "x0": limit,
                "x1": limit,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#d62728", "dash": "dash"},
            }
        ]
        layout["annotations"] = [
            {
                "x": limit,
                "yref": "paper",
                "y": 1.02,
                "showarrow": False,
                "text": f"{fps_line:g} fps limit",
                "font": {"color": "#d62728"},
            }
        ]
    return {"data": data, "layout": layout}


def _on_front(rec: Recommendation, t: TrialRecord) -> bool:
    return any(
        o.pareto and o.id == t.arch_id and o.variant == t.variant and o.loss == t.loss
        for o in rec.ranking + rec.rejected
    )


def degenerate_reason(trials: list[TrialRecord], task: str, x_key: str) -> str | None:
    """Why a plot of accuracy against ``x_key`` would carry no information (None if it would).

    One data fraction makes every learning curve a single point; equal x values put every
    candidate on one vertical line."""
    rows = ok_trials(trials, task)
    if x_key == "labelled_images" and len({t.data_fraction for t in rows}) < 2:
        return (
            "Learning curves need at least two data fractions: set training.data_fractions, "
            "e.g. [0.25, 0.5, 1.0], to see how accuracy grows with labelled images."
        )
    xs = [v for v in (_num(t.metrics.get(x_key)) for t in rows) if v is not None]
    if xs and max(xs) - min(xs) <= 0.01 * max(abs(max(xs)), 1e-9):
        what = {"label_cost_usd": f"labels (${xs[0]:,.0f} each)"}.get(x_key, f"{x_key} {xs[0]:g}")
        return (
            f"Every {task} candidate has the same {what}, so this axis does not separate them; "
            "vary training.data_fractions to compare labelling budgets."
        )
    return None
