"""The backbones section of the report: per head with two or more backbones among a task's
trials, accuracy against latency per backbone beside OpenMMLab's published numbers."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.figures.backbones import (
    backbone_comparison,
    backbone_groups,
    published_accuracy,
)
from benchsel.report.page import PageFigures
from benchsel.report.reading import magnitude_decimals, speed_conditions, with_interval
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC


def backbone_part(trials: list[TrialRecord], task: str, figs: PageFigures) -> dict[str, Any] | None:
    """Per head with at least two backbones among a task's ok trials: accuracy vs latency per
    backbone, beside OpenMMLab's published numbers (None when no head has two)."""
    groups = backbone_groups(trials, task)
    if not groups:
        return None
    metric = PRIMARY_METRIC[task]
    heads = []
    for family, pairs in groups.items():
        rows: list[dict[str, Any]] = []
        datasets: set[str] = set()
        for t, backbone in sorted(
            pairs, key=lambda p: (p[0].metrics.get("latency_e2e_p50_ms") or 0.0, p[1])
        ):
            value, dataset = published_accuracy(t.arch_id, t.variant, task)
            if value is not None:
                datasets.add(dataset)
            rows.append(
                {
                    "backbone": backbone,
                    "label": t.label,
                    "yours": with_interval(t, "accuracy"),
                    "published": magnitude_decimals(value)
                    if value is not None
                    else (
                        f"- (variant {t.variant} is not a published config)"
                        if t.variant != "default"
                        else "- (none published)"
                    ),
                    "latency": magnitude_decimals(_num(t.metrics.get("latency_e2e_p50_ms"))),
                    "params": magnitude_decimals(_num(t.metrics.get("params_m"))),
                    "gflops": magnitude_decimals(_num(t.metrics.get("gflops"))),
                    "device": speed_conditions(t),
                }
            )
        fig = backbone_comparison(pairs, task, family)
        plot = figs.add(
            fig,
            f"{family}: one colour per backbone, {metric} fine-tuned and scored here "
            "(yours, with 95% bootstrap intervals) against end-to-end batch-1 p50 latency on "
            "the device in the table; hollow diamonds: OpenMMLab's published number for the "
            "stock config after its full schedule on its own data set, placed at your latency "
            "for reference.",
            None
            if fig is not None
            else f"Fewer than two of {family}'s backbones have both an accuracy and a latency, "
            "so there is nothing to plot.",
        )
        heads.append(
            {
                "family": family,
                "plot": plot,
                "rows": rows,
                "backbones": sorted({b for _, b in pairs}),
                "published_title": f"published ({', '.join(sorted(datasets))}, full schedule)"
                if datasets
                else "published (full schedule)",
            }
        )
    return {"task": task, "metric": metric, "heads": heads}
