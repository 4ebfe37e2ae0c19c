"""Labelling cost: what the labels a task needs cost, now and projected to more images."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchsel.data.types import Dataset
from benchsel.errors import DataError
from benchsel.suite import LabellingPrices, PriceRange
from benchsel.tasks import Task, task_info


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


def price_of(prices: LabellingPrices, task: str) -> PriceRange:
    """Unit price range of the labels ``task`` needs."""
    price: PriceRange = getattr(prices, task_info(task).label_kind)
    return price


def priced(price: PriceRange, units: float, digits: int | None = 2) -> dict[str, float]:
    """Low / typical / high cost of ``units`` labels, rounded to ``digits`` (None: exact)."""
    values = {
        "low": price.low * units,
        "typical": price.typical * units,
        "high": price.high * units,
    }
    return values if digits is None else {k: round(v, digits) for k, v in values.items()}


def label_units_per_image(ds: Dataset, task: str) -> float:
    """Priced labels per image: objects for per-object labels, 1 for per-image labels."""
    if not task_info(task).per_object_labels:
        return 1.0
    return sum(len(im.instances) for im in ds.images) / (len(ds.images) or 1)


def label_cost(
    datasets: list[Dataset],
    task: Task,
    prices: LabellingPrices | None = None,
    project_to: int | None = None,
) -> LabelCost:
    """Cost of ``task``'s labels for ``datasets`` (all splits together), optionally projected."""
    prices = prices or LabellingPrices()
    info = task_info(task)
    images = sum(len(d.images) for d in datasets)
    if images == 0:
        raise DataError("the data set has no images")
    if not info.per_object_labels:
        units = images
    else:
        if not all(d.has_instances for d in datasets):
            raise DataError(
                f"{task} labels are counted per object, but this data set has no object "
                "annotations (it is a semantic mask folder)"
            )
        units = sum(len(im.instances) for d in datasets for im in d.images)
    price = price_of(prices, task)
    per_image = units / images
    cost = LabelCost(
        task=task,
        kind=info.label_kind,
        unit=info.label_unit,
        images=images,
        units=units,
        units_per_image=round(per_image, 3),
        unit_price_usd=price.model_dump(),
        cost_usd=priced(price, units),
    )
    if project_to is not None:
        cost.projected_images = project_to
        cost.projected_cost_usd = priced(price, per_image * project_to)
    return cost
