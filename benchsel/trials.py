"""Trials: candidates x variants x losses x data fractions x seeds, each with a stable hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from benchsel.catalog import Task, load_catalog
from benchsel.suite import CostSpec, LabellingPrices, MeasurementSpec, Suite, TrainingSpec


class TrialSpec(BaseModel):
    """Everything that determines one trial's results (and so its hash)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite_name: str
    task: Task
    arch_id: str
    family: str
    variant: str
    loss: str | None
    input_size: tuple[int, int]
    deploy_size: tuple[int, int]
    data_fraction: float
    seed: int
    checkpoint: str | None
    training: TrainingSpec
    measurement: MeasurementSpec
    labelling: LabellingPrices
    cost: CostSpec
    dataset_key: str

    @property
    def hash(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """Short human name: ``rtmdet-tiny[r18-light,dice_ce]@0.5#0``."""
        extras = [x for x in (None if self.variant == "default" else self.variant, self.loss) if x]
        name = self.arch_id + (f"[{','.join(extras)}]" if extras else "")
        if self.data_fraction != 1.0:
            name += f"@{self.data_fraction:g}"
        return name + (f"#{self.seed}" if self.seed else "")


def dataset_key(suite: Suite, image_count: int, classes: list[str]) -> str:
    """Fingerprint of the data a suite runs on (spec, size, classes)."""
    payload = json.dumps(
        {
            "dataset": suite.dataset.model_dump(mode="json"),
            "images": image_count,
            "classes": classes,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def expand_trials(suite: Suite, data_key: str = "") -> list[TrialSpec]:
    """All trials of a suite, in a stable order (candidate, variant, loss, fraction, seed)."""
    catalog = load_catalog()
    specs = []
    for cand in suite.candidates:
        arch = catalog.get(cand.id)
        for variant in cand.variants:
            var = arch.variant(variant)
            chosen = cand.input_size or (var.input_size if var and var.input_size else None)
            size: tuple[int, int] = chosen or arch.input_size
            deploy: tuple[int, int] = (
                arch.input_size  # SSD: anchors and layers only work at their own size
                if arch.fixed_input_size
                else suite.measurement.input_size or size
            )
            losses: list[str | None] = list(cand.losses) if cand.losses else [None]
            for loss in losses:
                for fraction in suite.training.data_fractions:
                    for seed in suite.training.seeds:
                        specs.append(
                            TrialSpec(
                                suite_name=suite.name,
                                task=suite.task_of(cand),
                                arch_id=arch.id,
                                family=arch.family,
                                variant=variant,
                                loss=loss,
                                input_size=size,
                                deploy_size=deploy,
                                data_fraction=fraction,
                                seed=seed,
                                checkpoint=cand.checkpoint,
                                training=suite.training,
                                measurement=suite.measurement,
                                labelling=suite.labelling,
                                cost=suite.cost,
                                dataset_key=data_key,
                            )
                        )
    return specs


def spec_summary(spec: TrialSpec) -> dict[str, Any]:
    return {
        "label": spec.label,
        "arch_id": spec.arch_id,
        "task": spec.task,
        "variant": spec.variant,
        "loss": spec.loss,
        "data_fraction": spec.data_fraction,
        "seed": spec.seed,
    }
