"""Labelling cost: what the labels a task needs cost, now and projected to more images."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchsel.catalog import Task
from benchsel.data.types import Dataset
from benchsel.errors import DataError
from benchsel.suite import LabellingPrices, PriceRange

# The annotation each task needs, and what one unit of it is.
KIND_OF_TASK: dict[str, tuple[str, str]] = {
    "detection": ("box", "box"),
    "instance": ("instance_mask", "instance"),
    "semantic": ("pixel_mask", "image"),
    "panoptic": ("panoptic", "image"),
}


@dataclass
class LabelCost:
    task: str
    kind: str
    unit: str
    images: int
    units: int
    units_per_image: float
    unit_price_usd: dict[str, float]
    cost_usd: dict[str, float]
    projected_images: int | None = None
    projected_cost_usd: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _times(prices: PriceRange, units: float) -> dict[str, float]:
    return {
        "low": round(prices.low * units, 2),
        "typical": round(prices.typical * units, 2),
        "high": round(prices.high * units, 2),
    }


def label_cost(
    datasets: list[Dataset],
    task: Task,
    prices: LabellingPrices | None = None,
    project_to: int | None = None,
) -> LabelCost:
    """Cost of ``task``'s labels for ``datasets`` (all splits together), optionally projected."""
    prices = prices or LabellingPrices()
    kind, unit = KIND_OF_TASK[task]
    images = sum(len(d.images) for d in datasets)
    if images == 0:
        raise DataError("the data set has no images")
    if unit == "image":
        units = images
    else:
        if not all(d.has_instances for d in datasets):
            raise DataError(
                f"{task} labels are counted per object, but this data set has no object "
                "annotations (it is a semantic mask folder)"
            )
        units = sum(len(im.instances) for d in datasets for im in d.images)
    price: PriceRange = getattr(prices, kind)
    per_image = units / images
    cost = LabelCost(
        task=task,
        kind=kind,
        unit=unit,
        images=images,
        units=units,
        units_per_image=round(per_image, 3),
        unit_price_usd=price.model_dump(),
        cost_usd=_times(price, units),
    )
    if project_to is not None:
        cost.projected_images = project_to
        cost.projected_cost_usd = _times(price, per_image * project_to)
    return cost
