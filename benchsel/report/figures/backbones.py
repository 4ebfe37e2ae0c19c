"""Backbones under one head: which heads' trials cover two or more backbones, OpenMMLab's
published accuracy of a stock config, and accuracy against latency per backbone."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchsel.catalog import load_catalog
from benchsel.errors import BenchselError
from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.common import base_layout, error_bars, esc
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC as PRIMARY


def backbone_groups(
    trials: list[TrialRecord], task: str
) -> dict[str, list[tuple[TrialRecord, str]]]:
    """Per head (the catalog's ``head_name``: YOLOv8 and RTMDet are different heads of the
    YOLO family), its ok trials with each one's backbone from the catalog; only heads
    whose trials cover at least two distinct backbones. Trials not in the catalog are left out."""
    catalog = load_catalog()
    groups: dict[str, list[tuple[TrialRecord, str]]] = defaultdict(list)
    for t in ok_trials(trials, task):
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
                "name": esc(backbone) + " (yours)",
                "x": [p[1] for p in pts],
                "y": [p[2] for p in pts],
                "text": [esc(backbone) for _ in pts],
                "textposition": "top center",
                "customdata": [
                    [
                        esc(p[0].label),
                        _num(p[0].metrics.get("params_m")),
                        _num(p[0].metrics.get("gflops")),
                    ]
                    for p in pts
                ],
                "marker": {"size": 11},
                "error_y": error_bars([p[0] for p in pts], [p[2] for p in pts]),
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
                "name": esc(f"published ({dataset}, full schedule)"),
                "x": [m[2] for m in marks],
                "y": [m[3] for m in marks],
                "text": [esc(f"{m[0]}: {m[1]}") for m in marks],
                "marker": {"size": 12, "symbol": "diamond-open", "color": "#555"},
                "hovertemplate": "%{text}<br>published by OpenMMLab on "
                + esc(dataset)
                + " after the full schedule: "
                + metric
                + " %{y:.3f}<br>(placed at your latency; not your data)<extra></extra>",
            }
        )
    layout = base_layout(
        f"{task}: backbones under {family}: {metric} vs latency",
        "latency p50 ms (b1, e2e)",
        metric,
    )
    layout["yaxis"]["range"] = [0, 1.05]
    return {"data": data, "layout": layout}
