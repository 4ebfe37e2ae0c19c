"""Learning curves: accuracy against labelled images per option, each curve's forecast with
its 95% band, the target line and the images-needed marker, and the backtest in words."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from benchsel.formatting import finite_or_none as _num
from benchsel.recommend.curve_fit import ForecastError
from benchsel.recommend.forecast import fit_curve
from benchsel.recommend.learning_curves import curves_from_trials
from benchsel.report.figures.common import base_layout, error_bars, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def learning_curves(
    trials: list[TrialRecord], task: str, target: float | None = None
) -> dict[str, Any] | None:
    """Accuracy against labelled training images (with intervals and each point's labelling
    cost), each curve's forecast with its 95% band out to ``target`` or 4x the largest size,
    the target line and the images-needed marker; a sentence gives each backtest error."""
    groups: dict[str, list[TrialRecord]] = defaultdict(list)
    for t in ok_trials(trials, task):
        extras = [x for x in (None if t.variant == "default" else t.variant, t.loss) if x]
        groups[t.arch_id + (f" [{', '.join(extras)}]" if extras else "")].append(t)
    curves = {c.name: c for c in curves_from_trials(trials, task)}
    data: list[dict[str, Any]] = []
    sentences: list[str] = []
    metric = PRIMARY[task]
    for i, (name, runs) in enumerate(sorted(groups.items())):
        color = _PALETTE[i % len(_PALETTE)]
        runs.sort(key=lambda t: t.data_fraction)
        xs = [_num(t.metrics.get("labelled_images")) for t in runs]
        ys = [_num(t.metrics.get("accuracy")) for t in runs]
        costs = [_num(t.metrics.get("label_cost_usd")) or 0.0 for t in runs]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": esc(name),
                "legendgroup": esc(name),
                "x": xs,
                "y": ys,
                "marker": {"color": color, "size": 9},
                "error_y": error_bars(runs, [y or 0.0 for y in ys]),
                "customdata": costs,
                "hovertemplate": esc(name)
                + "<br>%{x} labelled images<br>labels $%{customdata:,.0f}"
                "<br>" + metric + " %{y:.3f}<extra></extra>",
            }
        )
        curve = curves.get(name)
        if curve is None:
            continue
        try:
            fit = fit_curve(curve.points, n_boot=200)
        except ForecastError as exc:
            sentences.append(f"{esc(name)}: no forecast ({esc(str(exc).split(':')[0])})")
            continue
        needed = fit.images_for(target) if target is not None else None
        end = 4 * fit.n_max
        if needed is not None and needed.images is not None:
            end = max(1.25 * fit.n_max, 1.1 * needed.images)
        grid = np.geomspace(fit.sizes[0].images, end, 48)
        mid, low, high = fit.curve(grid)
        data += _forecast_traces(name, color, grid, mid, low, high, fit.model)
        if needed is not None and needed.images is not None:
            band = f"{needed.low or 0:,.0f} to " + (
                f"{needed.high:,.0f}" if needed.high is not None else "no upper end"
            )
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": esc(f"{name}: images for {target:g}"),
                    "legendgroup": esc(name),
                    "showlegend": False,
                    "x": [needed.images],
                    "y": [target],
                    "marker": {"color": color, "symbol": "x", "size": 13},
                    "hovertemplate": esc(f"{name} reaches {target:g} at about ")
                    + f"{needed.images:,.0f} images (95% band {band})<extra></extra>",
                }
            )
        if needed is not None and not needed.reachable:
            sentences.append(esc(f"{name}: {needed.message}"))
        if fit.backtest is not None:
            b = fit.backtest
            sentences.append(
                f"{esc(name)} ({fit.model}) predicted {b.predicted:.3f} at "
                f"{b.images:,.0f} images from the smaller sizes; measured {b.measured:.3f} "
                f"(error {b.error:+.3f})"
            )
        else:
            sentences.append(f"{esc(name)}: 3 sizes, no backtest (run a 4th data fraction)")
    if not data:
        return None
    layout = base_layout(f"{task}: learning curves", "labelled images (log scale)", metric)
    layout["yaxis"]["range"] = [0, 1.05]
    layout["xaxis"]["type"] = "log"
    if target is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": target,
                "y1": target,
                "line": {"color": "#d62728", "dash": "dash"},
            }
        ]
    if sentences:
        layout["height"] = 480
        layout["margin"]["b"] = 110
        layout["annotations"] = [
            {
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": -0.42,
                "xanchor": "left",
                "showarrow": False,
                "align": "left",
                "text": "Backtest (each curve fitted without its largest size, asked to predict "
                "it): " + "; ".join(sentences) + ".",
            }
        ]
    return {"data": data, "layout": layout}


def _forecast_traces(
    name: str,
    color: str,
    grid: np.ndarray,
    mid: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    model: str,
) -> list[dict[str, Any]]:
    """The fitted curve (dashed past the data) and its 95% band as a filled area."""
    group = esc(name)
    band = {"type": "scatter", "mode": "lines", "legendgroup": group, "showlegend": False}
    return [
        {**band, "x": grid.tolist(), "y": high.tolist(), "line": {"width": 0}, "hoverinfo": "skip"},
        {
            **band,
            "x": grid.tolist(),
            "y": low.tolist(),
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": _rgba(color, 0.18),
            "hoverinfo": "skip",
        },
        {
            **band,
            "name": esc(f"{name}: {model} fit"),
            "x": grid.tolist(),
            "y": mid.tolist(),
            "line": {"color": color, "dash": "dash"},
            "hovertemplate": group + " forecast<br>%{x:,.0f} images: %{y:.3f}<extra></extra>",
        },
    ]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
