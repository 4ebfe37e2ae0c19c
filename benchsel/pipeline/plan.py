"""The plan of a run: a suite expands into trials (candidates x variants x losses x data
fractions x seeds), each fully specified and named by a stable hash."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from benchsel.catalog import load_catalog
from benchsel.formatting import trial_label
from benchsel.suite import CostSpec, LabellingPrices, MeasurementSpec, Suite, TrainingSpec
from benchsel.tasks import Task

# Settings added after results were first stored: hashed only when set, so a suite that does
# not use them keeps its trials' hashes (and its finished results) across upgrades.
HASH_NEUTRAL_DEFAULTS: tuple[tuple[str, str, object], ...] = (
    ("measurement", "tta", False),
    ("measurement", "runtimes", ["pytorch"]),
    ("training", "lr", None),
)
# Settings that steer a run but never change one trial's result: never hashed.
UNHASHED: tuple[tuple[str, str], ...] = (("training", "max_seeds"), ("training", "max_hours"))


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
    name: str | None = None  # the candidate's own name (None: the default label)

    @property
    def hash(self) -> str:
        data = self.model_dump(mode="json")
        for section, key, default in HASH_NEUTRAL_DEFAULTS:
            if data[section].get(key, default) == default:
                data[section].pop(key, None)
        for section, key in UNHASHED:
            data[section].pop(key, None)
        if data["name"] is None:
            del data["name"]
        payload = json.dumps(data, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def option(self) -> str:
        """The candidate's name in results: ``name``, else ``rtmdet-tiny [r18-light, dice_ce]``."""
        return self.name or trial_label(self.arch_id, self.variant, self.loss)

    @property
    def label(self) -> str:
        """Short human name: ``rtmdet-tiny [r18-light, dice_ce] @0.5 #1``."""
        if self.name is None:
            return trial_label(self.arch_id, self.variant, self.loss, self.data_fraction, self.seed)
        name = self.name + (f" @{self.data_fraction:g}" if self.data_fraction != 1.0 else "")
        return name + (f" #{self.seed}" if self.seed else "")


def dataset_key(suite: Suite, image_count: int, classes: list[str]) -> str:
    """Fingerprint of the data a suite runs on (spec, size, classes)."""
    spec = suite.dataset.model_dump(mode="json")
    if spec.get("test") is None:  # added later: a suite without a test split keeps its key
        spec.pop("test", None)
    if spec.get("split") and not spec["split"].get("test_fraction"):
        spec["split"].pop("test_fraction", None)
    payload = json.dumps(
        {
            "dataset": spec,
            "images": image_count,
            "classes": classes,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def expand_trials(
    suite: Suite, data_key: str = "", seeds: dict[str, list[int]] | None = None
) -> list[TrialSpec]:
    """All trials of a suite, in a stable order (candidate, variant, loss, fraction, seed).

    ``seeds`` (racing) gives some options, by name, other seeds than their training section's;
    the trials' settings, and so their hashes, stay those of the suite."""
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
            training = cand.training_over(suite.training)
            measurement = suite.measurement
            if cand.tta is not None:
                measurement = measurement.model_copy(update={"tta": cand.tta})
            for loss in losses:
                name = cand.option_name(variant, loss)
                option_seeds = (seeds or {}).get(name, training.seeds)
                for fraction in training.data_fractions:
                    for seed in option_seeds:
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
                                training=training,
                                measurement=measurement,
                                labelling=suite.labelling,
                                cost=suite.cost,
                                dataset_key=data_key,
                                name=cand.name and name,
                            )
                        )
    return specs
