"""Training: loss per iteration beside the periodic validation metric, and the projected cost
of a full schedule beside the measured throughput."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.common import base_layout, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY


def training_curves(trials: list[TrialRecord], task: str) -> dict[str, Any] | None:
    """Training loss per iteration, and the periodic validation metric on a second axis."""
    data = []
    for t in ok_trials(trials, task):
        loss = t.curves.get("train_loss") or []
        if loss:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": esc(t.label) + " loss",
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
                    "name": esc(t.label) + f" val {PRIMARY[task]}",
                    "x": [p["iter"] for p in val],
                    "y": [p.get(PRIMARY[task]) for p in val],
                }
            )
    if not data:
        return None
    layout = base_layout(f"{task}: training curves", "iteration", "training loss")
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
    names = [esc(t.label) for t in rows]
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
    layout = base_layout(
        "training cost", "trial", "hours on the training device (projected full schedule)"
    )
    layout["yaxis2"] = {
        "title": {"text": "images/s (measured)"},
        "overlaying": "y",
        "side": "right",
    }
    layout["barmode"] = "group"
    return {"data": data, "layout": layout}
