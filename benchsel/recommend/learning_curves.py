"""Learning curves read from stored trials: each option's score at each data fraction's labelled
images, and what one more labelled image costs for its task."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchsel.formatting import finite_or_none, trial_label
from benchsel.recommend.curve_fit import CurvePoint
from benchsel.suite import PriceRange
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.store import TrialRecord
    from benchsel.suite import LabellingPrices


@dataclass(frozen=True)
class LearningCurve:
    """One option's measured learning curve (seeds pooled by ``fit_curve``)."""

    id: str
    variant: str
    loss: str | None
    task: str
    metric: str
    points: tuple[CurvePoint, ...]
    units_per_image: float | None  # priced labels per image (boxes, instances; 1 for masks)
    measured_task: str = ""  # the task it was trained for, when a richer one (instance for boxes)
    label: str = ""  # the candidate's name in the suite (default: id, variant, loss)

    @property
    def name(self) -> str:
        name = self.label or trial_label(self.id, self.variant, self.loss)
        if self.measured_task and self.measured_task != self.task:
            name += f" ({self.measured_task} model)"
        return name

    @property
    def labelled_images(self) -> float:
        return max(p.images for p in self.points)


def curves_from_trials(trials: Iterable[TrialRecord], task: str) -> list[LearningCurve]:
    """Each option's learning curve for ``task``: its score (the primary metric, or a richer
    task's model scored on this one, e.g. an instance model's ``bbox_AP``) with its 95% interval
    at each data fraction's ``labelled_images``, one point per ok trial (seed)."""
    info = task_info(task)
    key_of: dict[str, str] = {task: "accuracy", **dict(info.shared_by)}
    groups: dict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.task in key_of and t.status == "ok":
            groups[(t.option, t.task)].append(t)
    curves = []
    for (label, measured), runs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        arch_id, variant, loss = runs[0].arch_id, runs[0].variant, runs[0].loss
        key = key_of[measured]
        points = []
        units = []
        for t in sorted(runs, key=lambda t: (t.data_fraction, t.seed)):
            images = finite_or_none(t.metrics.get("labelled_images"))
            acc = finite_or_none(t.metrics.get(key))
            if images is None or acc is None or images <= 0:
                continue
            points.append(
                CurvePoint(
                    images,
                    acc,
                    finite_or_none(t.metrics.get(f"{key}_ci_low")),
                    finite_or_none(t.metrics.get(f"{key}_ci_high")),
                )
            )
            label_units = finite_or_none(t.metrics.get("label_units"))
            if label_units is not None:
                units.append(label_units / images)
        if points:
            curves.append(
                LearningCurve(
                    arch_id,
                    variant,
                    loss,
                    task,
                    info.primary_metric,
                    tuple(points),
                    float(np.mean(units)) if units else None,
                    measured,
                    label,
                )
            )
    return curves


def price_per_image(
    prices: LabellingPrices, task: str, units_per_image: float | None
) -> PriceRange | None:
    """The labelling price of one image for ``task``: unit price x priced labels per image
    (None when a per-object task's labels per image are unknown)."""
    from benchsel.data.labelling import price_of  # the data package loads every reader

    units = 1.0 if not task_info(task).per_object_labels else units_per_image
    if units is None:
        return None
    unit = price_of(prices, task)
    return PriceRange(low=unit.low * units, typical=unit.typical * units, high=unit.high * units)
