"""What every figure shares: HTML-escaped user strings, the base layout, error bars from stored
95% intervals."""

from __future__ import annotations

import html
from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.store import TrialRecord


def esc(text: str) -> str:
    """``text`` safe in a plotly label (which renders a subset of HTML)."""
    return html.escape(text, quote=False)


def base_layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    """The layout every figure starts from: title, axis titles, size, margins, legend below."""
    return {
        "title": {"text": esc(title)},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": y}},
        "height": 420,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def error_bars(
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
