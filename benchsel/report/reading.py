"""How the report reads a stored trial: which trials count for a task, a number as table text, a
metric with its interval, where and how it was measured. Shared by the figures and the sections.
"""

from __future__ import annotations

import math
from typing import Any

from benchsel.formatting import finite_or_none
from benchsel.store import TrialRecord

# How the report names the parts of a trial that can fail without failing it.
PART_NAMES = {
    "deploy_accuracy": "PyTorch at the deployment size",
    "tta": "TTA",
    "onnxruntime": "ONNX Runtime",
}


def ok_trials(trials: list[TrialRecord], task: str) -> list[TrialRecord]:
    """The trials of ``task`` that finished ok, in store order."""
    return [t for t in trials if t.task == task and t.status == "ok"]


def magnitude_decimals(value: Any) -> str:
    """A table cell: a float with decimals by its size (``1,234``, ``12.35``, ``0.123``), other
    values as text, ``-`` for None and non-finite floats. The terminal writes fixed decimals
    instead (see :func:`benchsel.console.fixed_decimals`)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def scientific(value: float | None) -> str:
    """A possibly tiny non-negative number (an output difference) in scientific notation."""
    return "-" if value is None else f"{value:.2e}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    """``1.25x``, or ``-`` when either side is missing (or the denominator is 0)."""
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def with_interval(t: TrialRecord, key: str) -> str:
    """``value [low, high]`` of a metric and its stored 95% interval (the value alone without)."""
    text = magnitude_decimals(finite_or_none(t.metrics.get(key)))
    low = finite_or_none(t.metrics.get(f"{key}_ci_low"))
    high = finite_or_none(t.metrics.get(f"{key}_ci_high"))
    if low is not None and high is not None:
        text += f" [{magnitude_decimals(low)}, {magnitude_decimals(high)}]"
    return text


def speed_conditions(t: TrialRecord) -> str:
    """Where a trial's PyTorch latency was measured: device, threads, input size."""
    speed = (t.conditions.get("speed") or [{}])[0]
    parts = [str(speed.get("device") or t.conditions.get("device") or "device not stored")]
    if speed.get("threads"):
        parts.append(f"{speed['threads']} threads")
    if speed.get("input_size"):
        parts.append("x".join(str(v) for v in speed["input_size"]))
    return ", ".join(parts)


def measured_on_gpu(t: TrialRecord) -> bool:
    return str(t.conditions.get("device", "cpu")).startswith("cuda")


def tta_views(t: TrialRecord) -> int | None:
    """Augmented views per image of a trial's TTA (the metric, else its conditions)."""
    views = finite_or_none(t.metrics.get("tta_views"))
    if views is None:
        views = finite_or_none((t.conditions.get("tta") or {}).get("views"))
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
