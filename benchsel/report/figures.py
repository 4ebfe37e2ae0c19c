"""Plotly figures of a results store. User strings are HTML-escaped before plotly sees them
(plotly renders a subset of HTML in labels)."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

import numpy as np

from benchsel.formatting import finite_or_none as _num
from benchsel.recommend import Recommendation
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": _esc(title)},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}},
        "height": 420,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


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
    for t in trials:
        x, y = _num(t.metrics.get(x_key)), _num(t.metrics.get("accuracy"))
        if t.task == task and t.status == "ok" and x is not None and y is not None:
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
                "name": _esc(family),
                "x": [p[1] for p in pts],
                "y": [p[2] for p in pts],
                "text": [_esc(p[0].label) for p in pts],
                "textposition": "top center",
                "marker": {"size": 11},
                "error_y": _error_bars([p[0] for p in pts], [p[2] for p in pts]),
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
    layout = _layout(f"{task}: {metric} vs {x_title}", x_title, metric)
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


def _error_bars(
    rows: list[TrialRecord], values: list[float], metric: str = "accuracy"
) -> dict[str, Any]:
    """Asymmetric error bars from each trial's 95% bootstrap interval of ``metric`` (stored as
    ``<metric>_ci_low`` / ``_ci_high``; none where absent)."""
    plus, minus = [], []
    for t, y in zip(rows, values, strict=True):
        lo = _num(t.metrics.get(f"{metric}_ci_low"))
        hi = _num(t.metrics.get(f"{metric}_ci_high"))
        plus.append(max(0.0, hi - y) if hi is not None else 0.0)
        minus.append(max(0.0, y - lo) if lo is not None else 0.0)
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}


def _on_front(rec: Recommendation, t: TrialRecord) -> bool:
    return any(
        o.pareto and o.id == t.arch_id and o.variant == t.variant and o.loss == t.loss
        for o in rec.ranking + rec.rejected
    )


def degenerate_reason(trials: list[TrialRecord], task: str, x_key: str) -> str | None:
    """Why a plot of accuracy against ``x_key`` would carry no information (None if it would).

    One data fraction makes every learning curve a single point; equal x values put every
    candidate on one vertical line."""
    rows = [t for t in trials if t.task == task and t.status == "ok"]
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


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def learning_curves(
    trials: list[TrialRecord], task: str, target: float | None = None
) -> dict[str, Any] | None:
    """Accuracy against labelled training images (with intervals and each point's labelling
    cost), each curve's forecast with its 95% band out to ``target`` or 4x the largest size,
    the target line and the images-needed marker; a sentence gives each backtest error."""
    from benchsel.recommend.forecast import ForecastError, curves_from_trials, fit_curve

    groups: dict[str, list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.task == task and t.status == "ok":
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
                "name": _esc(name),
                "legendgroup": _esc(name),
                "x": xs,
                "y": ys,
                "marker": {"color": color, "size": 9},
                "error_y": _error_bars(runs, [y or 0.0 for y in ys]),
                "customdata": costs,
                "hovertemplate": _esc(name)
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
            sentences.append(f"{_esc(name)}: no forecast ({_esc(str(exc).split(':')[0])})")
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
                    "name": _esc(f"{name}: images for {target:g}"),
                    "legendgroup": _esc(name),
                    "showlegend": False,
                    "x": [needed.images],
                    "y": [target],
                    "marker": {"color": color, "symbol": "x", "size": 13},
                    "hovertemplate": _esc(f"{name} reaches {target:g} at about ")
                    + f"{needed.images:,.0f} images (95% band {band})<extra></extra>",
                }
            )
        if needed is not None and not needed.reachable:
            sentences.append(_esc(f"{name}: {needed.message}"))
        if fit.backtest is not None:
            b = fit.backtest
            sentences.append(
                f"{_esc(name)} ({fit.model}) predicted {b.predicted:.3f} at "
                f"{b.images:,.0f} images from the smaller sizes; measured {b.measured:.3f} "
                f"(error {b.error:+.3f})"
            )
        else:
            sentences.append(f"{_esc(name)}: 3 sizes, no backtest (run a 4th data fraction)")
    if not data:
        return None
    layout = _layout(f"{task}: learning curves", "labelled images (log scale)", metric)
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
    group = _esc(name)
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
            "name": _esc(f"{name}: {model} fit"),
            "x": grid.tolist(),
            "y": mid.tolist(),
            "line": {"color": color, "dash": "dash"},
            "hovertemplate": group + " forecast<br>%{x:,.0f} images: %{y:.3f}<extra></extra>",
        },
    ]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def class_heatmap(
    trials: list[TrialRecord], task: str, classes: list[str]
) -> dict[str, Any] | None:
    """Per-class AP (detection, instance, panoptic PQ) or IoU (semantic), trials x classes."""
    prefix = {
        "detection": "bbox_AP/",
        "instance": "segm_AP/",
        "semantic": "IoU/",
        "panoptic": "PQ/",
    }[task]
    rows = [t for t in trials if t.task == task and t.status == "ok"]
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
            "x": [_esc(n) for n in names],
            "y": [_esc(t.label) for t in rows],
            "colorscale": "Viridis",
            "zmin": 0,
            "zmax": 1,
            "hovertemplate": "%{y}<br>%{x}: %{z:.3f}<extra></extra>",
        }
    ]
    layout = _layout(f"{task}: per-class {prefix[:-1]}", "class", "trial")
    layout["height"] = max(300, 60 + 40 * len(rows))
    layout["margin"]["l"] = 220
    return {"data": data, "layout": layout}


def training_curves(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """Training loss per iteration, and the periodic validation metric on a second axis."""
    data = []
    for t in trials:
        if t.task != task or t.status != "ok":
            continue
        loss = t.curves.get("train_loss") or []
        if loss:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _esc(t.label) + " loss",
                    "x": [p["iter"] for p in loss],
                    "y": [p.get("loss") for p in loss],
                }
            )
        val = t.curves.get("val") or []
        if val:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "yaxis": "y2",
                    "name": _esc(t.label) + f" val {PRIMARY[task]}",
                    "x": [p["iter"] for p in val],
                    "y": [p.get(PRIMARY[task]) for p in val],
                }
            )
    if not data:
        return None
    layout = _layout(f"{task}: training curves", "iteration", "training loss")
    layout["yaxis2"] = {
        "title": {"text": f"val {PRIMARY[task]}"},
        "overlaying": "y",
        "side": "right",
        "range": [0, 1],
    }
    return {"data": data, "layout": layout}


def training_cost(trials: list[TrialRecord]) -> dict[str, Any] | None:
    """Projected full-schedule training hours and measured training throughput per trial."""
    rows = [t for t in trials if t.status == "ok" and t.metrics.get("train_images_per_s")]
    if not rows:
        return None
    names = [_esc(t.label) for t in rows]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": f"full schedule, {device}-hours",
            "x": names,
            "y": [_num(t.metrics.get(f"train_full_schedule_{device}_hours")) for t in rows],
        }
        for device in ("cpu", "gpu")
        if any(t.metrics.get(f"train_full_schedule_{device}_hours") is not None for t in rows)
    ]
    data += [
        {
            "type": "bar",
            "name": "training images/s",
            "x": names,
            "yaxis": "y2",
            "y": [_num(t.metrics.get("train_images_per_s")) for t in rows],
            "opacity": 0.6,
        },
    ]
    layout = _layout(
        "training cost", "trial", "hours on the training device (projected full schedule)"
    )
    layout["yaxis2"] = {
        "title": {"text": "images/s (measured)"},
        "overlaying": "y",
        "side": "right",
    }
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


# -- why a model wins or loses


def _ok(trials: list[TrialRecord], task: str) -> list[TrialRecord]:
    return [t for t in trials if t.task == task and t.status == "ok"]


def error_breakdown(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """TIDE's dAP per error type, one bar group per type, one bar per trial."""
    from benchsel.evaluation.error_analysis import TIDE_ERRORS, TIDE_NAMES, TIDE_SPECIAL

    kinds = [*TIDE_ERRORS, *TIDE_SPECIAL]
    rows = [t for t in _ok(trials, task) if t.metrics.get("tide_AP50") is not None]
    if not rows:
        return None
    data = [
        {
            "type": "bar",
            "name": _esc(t.label),
            "x": [k if k in TIDE_ERRORS else f"all {k.upper()}" for k in kinds],
            "y": [_num(t.metrics.get(f"tide_{k}")) for k in kinds],
            "customdata": [TIDE_NAMES[k] for k in kinds],
            "hovertemplate": _esc(t.label) + "<br>%{customdata}: dAP %{y:.3f}<extra></extra>",
        }
        for t in rows
    ]
    layout = _layout(
        f"{task}: AP lost to each error type (TIDE)", "error type", "dAP (fraction of AP)"
    )
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


def coco_analysis(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """The COCO analysis steps (C75 ... FN): AP as each error kind is forgiven in turn."""
    from benchsel.evaluation.error_analysis import ANALYSIS_STEPS

    rows = [t for t in _ok(trials, task) if t.metrics.get("analysis_C50") is not None]
    if not rows:
        return None
    data = []
    for t in rows:
        steps = [s for s in ANALYSIS_STEPS if t.metrics.get(f"analysis_{s}") is not None]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _esc(t.label),
                "x": steps,
                "y": [_num(t.metrics.get(f"analysis_{s}")) for s in steps],
                "hovertemplate": _esc(t.label) + "<br>%{x}: AP %{y:.3f}<extra></extra>",
            }
        )
    layout = _layout(f"{task}: AP as errors are forgiven (COCO analysis)", "step", "AP")
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}


def class_scores(trials: list[TrialRecord], task: str, classes: list[str]) -> dict[str, Any] | None:
    """Per-class AP (or IoU) per trial with its 95% bootstrap interval where stored."""
    prefix = {
        "detection": "bbox_AP/",
        "instance": "segm_AP/",
        "semantic": "IoU/",
        "panoptic": "semantic_IoU/",
    }[task]
    rows = _ok(trials, task)
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
                "name": _esc(t.label),
                "x": [_esc(n) for n in names],
                "y": ys,
                "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
                "hovertemplate": _esc(t.label) + "<br>%{x}: %{y:.3f}<extra></extra>",
            }
        )
    metric = prefix[:-1]
    layout = _layout(f"{task}: per-class {metric} with 95% intervals", "class", metric)
    layout["barmode"] = "group"
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}


def f1_curves(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """Mean F1 over classes against the confidence threshold, the chosen threshold marked."""
    data: list[dict[str, Any]] = []
    for t in _ok(trials, task):
        curve = t.curves.get("f1")
        if not curve or not curve.get("thresholds"):
            continue
        best = curve.get("best_threshold")
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": _esc(t.label),
                "x": curve["thresholds"],
                "y": curve["mean_f1"],
                "hovertemplate": _esc(t.label)
                + "<br>threshold %{x:.2f}: F1 %{y:.3f}<extra></extra>",
            }
        )
        if best is not None:
            i = curve["thresholds"].index(best) if best in curve["thresholds"] else 0
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": _esc(t.label) + " best",
                    "x": [best],
                    "y": [curve["mean_f1"][i]],
                    "text": [f"{best:.2f}"],
                    "textposition": "top center",
                    "marker": {"size": 11, "symbol": "star"},
                    "showlegend": False,
                    "hovertemplate": _esc(t.label)
                    + "<br>F1-best threshold %{x:.2f}: F1 %{y:.3f}<extra></extra>",
                }
            )
    if not data:
        return None
    layout = _layout(
        f"{task}: F1 against confidence (IoU 0.5, mean over classes)",
        "confidence threshold",
        "F1",
    )
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}


def confusion(t: TrialRecord) -> dict[str, Any] | None:
    """The trial's confusion matrix, each row as fractions of its labelled total (counts on
    hover); for detection a background row and column."""
    stored = t.curves.get("confusion")
    if not stored or not stored.get("matrix"):
        return None
    import numpy as np

    counts = np.asarray(stored["matrix"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    labels = [_esc(n) for n in stored["labels"]]
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
            + _esc(str(stored.get("unit", "")))
            + " (%{z:.2f} of the row)<extra></extra>",
        }
    ]
    layout = _layout(f"{t.task}: confusion of {t.label}", "predicted class", "labelled class")
    layout["yaxis"]["autorange"] = "reversed"
    layout["margin"]["l"] = 140
    return {"data": data, "layout": layout}


# -- test-time augmentation, the deployed runtime, backbones under one head


def tta_views(t: TrialRecord) -> int | None:
    """Augmented views per image of a trial's TTA (the metric, else its conditions)."""
    views = _num(t.metrics.get("tta_views"))
    if views is None:
        views = _num((t.conditions.get("tta") or {}).get("views"))
    return None if views is None else int(views)


def gain_verdict(low: float | None, high: float | None) -> str:
    """How a paired gain reads from its 95% interval: gain, loss, or not separable from none."""
    if low is None or high is None:
        return "no interval"
    if low > 0:
        return "gain"
    if high < 0:
        return "loss"
    return "not separable from no gain"


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
    for t in _ok(trials, task):
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
                "text": [_esc(p[0].label) for p in pts],
                "textposition": "top center",
                "customdata": [[tta_views(p[0]), p[3]] for p in pts],
                "marker": {"size": 11, "color": colour},
                "error_y": _error_bars([p[0] for p in pts], [p[2] for p in pts], "tta_gain"),
                "hovertemplate": "%{text}<br>%{customdata[0]} views<br>latency paid %{x:.1f} ms "
                "(TTA/plain %{customdata[1]:.2f}x)<br>"
                + metric
                + " gained %{y:.3f}<extra></extra>",
            }
        )
    layout = _layout(
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


def measured_on_gpu(t: TrialRecord) -> bool:
    return str(t.conditions.get("device", "cpu")).startswith("cuda")


def runtime_latency(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """End-to-end batch-1 p50 latency per trial in PyTorch and in ONNX Runtime, the ratio
    PyTorch/ONNX Runtime on the ONNX Runtime bar."""
    rows = [
        t
        for t in _ok(trials, task)
        if _num(t.metrics.get("latency_e2e_p50_ms")) is not None
        and _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms")) is not None
    ]
    if not rows:
        return None
    names = [_esc(t.label) for t in rows]
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
    layout = _layout(
        f"{task}: PyTorch vs ONNX Runtime latency (label: PyTorch/ONNX Runtime)",
        "trial",
        "e2e p50 latency, ms (batch 1)",
    )
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}


def backbone_groups(
    trials: list[TrialRecord], task: str
) -> dict[str, list[tuple[TrialRecord, str]]]:
    """Per head (the catalog's ``head_name``: YOLOv8 and RTMDet are different heads of the
    YOLO family), its ok trials with each one's backbone from the catalog; only heads
    whose trials cover at least two distinct backbones. Trials not in the catalog are left out."""
    from benchsel.catalog import load_catalog
    from benchsel.errors import BenchselError

    catalog = load_catalog()
    groups: dict[str, list[tuple[TrialRecord, str]]] = defaultdict(list)
    for t in _ok(trials, task):
        try:
            backbone = catalog.get(t.arch_id).backbone_of(t.variant)
        except BenchselError:
            continue
        groups[catalog.get(t.arch_id).head_name].append((t, backbone))
    return {
        family: pairs
        for family, pairs in sorted(groups.items())
        if len({backbone for _, backbone in pairs}) >= 2
    }


def published_accuracy(arch_id: str, variant: str, task: str) -> tuple[float | None, str]:
    """OpenMMLab's published primary metric of ``arch_id``'s stock config as a fraction, and the
    data set it was measured on; None for a variant (no published config) or where absent."""
    from benchsel.catalog import load_catalog
    from benchsel.errors import BenchselError

    try:
        reference = load_catalog().get(arch_id).reference
    except BenchselError:
        return None, ""
    value = reference.metrics.get(PRIMARY[task])
    if variant != "default" or value is None:
        return None, reference.dataset
    return value / 100.0, reference.dataset


def backbone_comparison(
    pairs: list[tuple[TrialRecord, str]], task: str, family: str
) -> dict[str, Any] | None:
    """One head's backbones: accuracy (95% interval) against e2e latency, one trace per backbone;
    OpenMMLab's published accuracy of each stock config as hollow diamonds at the same latency."""
    metric = PRIMARY[task]
    by_backbone: dict[str, list[tuple[TrialRecord, float, float]]] = defaultdict(list)
    for t, backbone in pairs:
        x, y = _num(t.metrics.get("latency_e2e_p50_ms")), _num(t.metrics.get("accuracy"))
        if x is not None and y is not None:
            by_backbone[backbone].append((t, x, y))
    if len(by_backbone) < 2:
        return None
    data: list[dict[str, Any]] = []
    published: dict[str, list[tuple[str, str, float, float]]] = defaultdict(list)
    seen: set[str] = set()
    for backbone, pts in sorted(by_backbone.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": _esc(backbone) + " (yours)",
                "x": [p[1] for p in pts],
                "y": [p[2] for p in pts],
                "text": [_esc(backbone) for _ in pts],
                "textposition": "top center",
                "customdata": [
                    [
                        _esc(p[0].label),
                        _num(p[0].metrics.get("params_m")),
                        _num(p[0].metrics.get("gflops")),
                    ]
                    for p in pts
                ],
                "marker": {"size": 11},
                "error_y": _error_bars([p[0] for p in pts], [p[2] for p in pts]),
                "hovertemplate": "%{text}: %{customdata[0]}<br>latency p50 %{x:.3g} ms<br>"
                + metric
                + " %{y:.3f} (yours)<br>params %{customdata[1]:.3g} M, "
                "%{customdata[2]:.3g} GFLOPs<extra></extra>",
            }
        )
        for t, x, _y in pts:
            value, dataset = published_accuracy(t.arch_id, t.variant, task)
            if value is not None and t.arch_id not in seen:
                seen.add(t.arch_id)
                published[dataset].append((backbone, t.arch_id, x, value))
    for dataset, marks in sorted(published.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _esc(f"published ({dataset}, full schedule)"),
                "x": [m[2] for m in marks],
                "y": [m[3] for m in marks],
                "text": [_esc(f"{m[0]}: {m[1]}") for m in marks],
                "marker": {"size": 12, "symbol": "diamond-open", "color": "#555"},
                "hovertemplate": "%{text}<br>published by OpenMMLab on "
                + _esc(dataset)
                + " after the full schedule: "
                + metric
                + " %{y:.3f}<br>(placed at your latency; not your data)<extra></extra>",
            }
        )
    layout = _layout(
        f"{task}: backbones under {family}: {metric} vs latency",
        "latency p50 ms (b1, e2e)",
        metric,
    )
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}
