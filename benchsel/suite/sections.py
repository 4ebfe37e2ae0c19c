"""The sections of a suite file: the data set and its splits, the candidates, training,
measurement, constraints, labelling prices and costs. Each is strict: unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from benchsel.tasks import Task

DataFormat = Literal[
    "auto", "coco", "coco_panoptic", "mask_folder", "voc", "yolo", "cvat", "labelme"
]
SemanticLoss = Literal["ce", "weighted_ce", "dice_ce", "focal", "boundary"]
Precision = Literal["fp32", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
Runtime = Literal["pytorch", "onnxruntime"]
Size = tuple[int, int]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitSpec(StrictModel):
    """A seeded fraction split of one image set, used when no explicit val split is given."""

    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Also hold out this fraction as a test split (scored by every trial, never "
        "used to choose).",
    )
    seed: int = 0

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitSpec:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% to train on")
        return self


class SampleSpec(StrictModel):
    """Built-in generated sample data (written into the output folder on first run)."""

    images: int = Field(240, ge=4, le=100_000)
    size: int = Field(128, ge=32, le=2048)
    seed: int = 0


class DatasetSpec(StrictModel):
    """Where the user's data lives and how to read it."""

    path: Path | None = Field(None, description="Dataset root (or annotation file).")
    sample: SampleSpec | None = Field(None, description="Use built-in generated data instead.")
    format: DataFormat = "auto"
    train: str | None = Field(None, description="Train split: annotation file or folder.")
    val: str | None = Field(None, description="Val split: annotation file or folder.")
    test: str | None = Field(
        None,
        description="Held-out test split (annotation file or folder): trials score it too and "
        "the recommendation reports the pick's accuracy on it.",
    )
    split: SplitSpec | None = None
    classes: list[str] | None = Field(None, description="Class names (mask folders).")
    ignore_index: int = Field(255, ge=0, le=255)

    @model_validator(mode="after")
    def _split_xor_explicit(self) -> DatasetSpec:
        if (self.path is None) == (self.sample is None):
            raise ValueError("give exactly one of `path` (your data) or `sample` (built-in data)")
        if self.split is not None and self.val is not None:
            raise ValueError("give either an explicit `val` split or a fraction `split`, not both")
        if self.split is not None and self.split.test_fraction and self.test is not None:
            raise ValueError("give either an explicit `test` split or `split.test_fraction`")
        return self


class Candidate(StrictModel):
    """One catalog architecture to try, with optional variants."""

    id: str
    name: str | None = Field(
        None,
        pattern=r"^[^\s].{0,79}$",
        description="How results name this candidate (default: the id, variant and loss), so "
        "one architecture can be entered several times with different settings.",
    )
    training: dict[str, Any] | None = Field(
        None,
        description="Keys of the suite's `training` section for this candidate only, merged over "
        "it (seeds, iterations, epochs, batch_size, augmentation, lr_scale, lr, ...).",
    )
    task: Task | None = Field(None, description="Defaults to the suite's task, then the model's.")
    variants: list[str] = Field(default_factory=lambda: ["default"])
    input_size: Size | None = Field(None, description="[height, width] for train and test.")
    losses: list[SemanticLoss] | None = Field(None, description="Semantic models: loss variants.")
    checkpoint: str | None = Field(None, description="Local path or URL to start from.")
    iterations: int | None = Field(
        None, ge=0, description="This candidate's training budget (overrides training's)."
    )
    tta: bool | None = Field(
        None, description="Test-time augmentation for this candidate (overrides measurement's)."
    )

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: Size | None) -> Size | None:
        if v is not None and (v[0] < 32 or v[1] < 32):
            raise ValueError("input_size must be at least [32, 32]")
        return v

    @field_validator("training")
    @classmethod
    def _training_keys(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - set(TrainingSpec.model_fields))
        if unknown:
            raise ValueError(
                f"unknown training key(s) {', '.join(unknown)}; "
                f"choose from {', '.join(TrainingSpec.model_fields)}"
            )
        return v

    def training_over(self, base: TrainingSpec) -> TrainingSpec:
        """The suite's training section with this candidate's overrides (``iterations`` and
        ``training``) merged over it, validated."""
        update: dict[str, Any] = {}
        if self.iterations is not None:
            update.update({"iterations": self.iterations, "epochs": None})
        for key, value in (self.training or {}).items():
            update[key] = value
            if key == "iterations":
                update["epochs"] = None
            elif key == "epochs":
                update["iterations"] = None
        if not update:
            return base
        return TrainingSpec.model_validate({**base.model_dump(), **update})

    def option_name(self, variant: str, loss: str | None) -> str:
        """The name results give this candidate's ``variant`` / ``loss``: today's label (id,
        variant, loss) without a ``name``; with one, the name, plus the variant or loss when the
        candidate expands into several."""
        from benchsel.formatting import trial_label

        if self.name is None:
            return trial_label(self.id, variant, loss)
        extras = [
            x
            for x, several in (
                (variant, len(self.variants) > 1),
                (loss, len(self.losses or []) > 1),
            )
            if several and x
        ]
        return self.name + (f" [{', '.join(extras)}]" if extras else "")

    def option_names(self) -> list[str]:
        """Every name this candidate's variants and losses give."""
        losses: list[str | None] = list(self.losses) if self.losses else [None]
        return [self.option_name(v, loss) for v in self.variants for loss in losses]


class TrainingSpec(StrictModel):
    """The fine-tuning budget; 0 iterations means evaluate the checkpoint as it is."""

    iterations: int | None = Field(None, ge=0)
    epochs: int | None = Field(None, ge=0)
    max_minutes: float | None = Field(None, gt=0, description="Wall-clock cap per trial.")
    batch_size: int = Field(8, ge=1)
    lr_scale: Literal["auto", "linear", "sqrt", "none"] = Field(
        "auto", description="auto: linear for SGD-like optimizers, square root for Adam-family."
    )
    augmentation: Literal["default", "strong"] = "default"
    data_fractions: list[float] = Field(default_factory=lambda: [1.0])
    seeds: list[int] = Field(
        default_factory=lambda: [0],
        description="Training seeds per candidate, or {min: 1, max: N} to race: start with min "
        "seeds and add seeds only where the verdict is undecided (as `run --until-decided`).",
    )
    max_seeds: int | None = Field(
        None, ge=1, description="Racing: at most this many seeds per candidate."
    )
    max_hours: float | None = Field(
        None, gt=0, description="Racing: stop adding seeds after this many hours of trials."
    )
    lr: float | None = Field(
        None, gt=0, description="Base learning rate (before batch scaling; default: the config's)."
    )
    amp: bool | None = Field(
        None,
        description="Mixed precision when training on a GPU; default: on where the family's "
        "fp16 path works (off for DINO and Mask2Former, whose matchers overflow in fp16).",
    )

    @model_validator(mode="before")
    @classmethod
    def _seed_range(cls, data: Any) -> Any:
        seeds = data.get("seeds") if isinstance(data, dict) else None
        if isinstance(seeds, dict):
            unknown = sorted(set(seeds) - {"min", "max"})
            low, high = seeds.get("min", 1), seeds.get("max")
            if (
                unknown
                or not isinstance(low, int)
                or not isinstance(high, int)
                or not (1 <= low <= high)
            ):
                raise ValueError("seeds as a range is {min: M, max: N} with 1 <= M <= N")
            data = {**data, "seeds": list(range(low)), "max_seeds": high}
        return data

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError("seeds must be a non-empty list of distinct integers")
        return v

    @model_validator(mode="after")
    def _one_budget(self) -> TrainingSpec:
        if self.iterations is not None and self.epochs is not None:
            raise ValueError("give `iterations` or `epochs`, not both")
        if self.iterations is None and self.epochs is None:
            self.iterations = 0
        return self

    @field_validator("data_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < f <= 1 for f in v):
            raise ValueError("data fractions must be in (0, 1]")
        return sorted(set(v))


class MeasurementSpec(StrictModel):
    """How latency, throughput and memory are measured."""

    input_size: Size | None = Field(
        None,
        description="Deployment [height, width] for FLOPs and latency (default: the training "
        "size; fixed-size architectures such as SSD300 always use their own).",
    )
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8])
    precision: list[Precision] = Field(default_factory=lambda: list[Precision](["fp32"]))
    device: Device = "auto"
    warmup_iters: int = Field(5, ge=0)
    min_iters: int = Field(20, ge=1)
    min_seconds: float = Field(2.0, ge=0)
    threads: int | None = Field(None, ge=1, description="CPU threads (torch.set_num_threads).")
    tta: bool = Field(
        False,
        description="Also score and time test-time augmentation: the architecture's shipped TTA "
        "setting, else flip-only (detection and semantic; instance and panoptic models record "
        "that upstream has none).",
    )
    runtimes: list[Runtime] = Field(
        default_factory=lambda: list[Runtime](["pytorch"]),
        description="Runtimes to measure: pytorch (always) and onnxruntime (the exported network "
        "on ONNX Runtime's CPU provider, post-processing on the host).",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _batches(cls, v: list[int]) -> list[int]:
        if not v or any(b < 1 for b in v):
            raise ValueError("batch sizes must be positive")
        return sorted(set(v))

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, v: list[Runtime]) -> list[Runtime]:
        if "pytorch" not in v:
            raise ValueError("runtimes must include pytorch (training and accuracy run on it)")
        return [r for r in ("pytorch", "onnxruntime") if r in v]


class Constraints(StrictModel):
    """What the user needs; used to filter and rank candidates."""

    min_fps: float | None = Field(None, gt=0)
    max_latency_ms: float | None = Field(None, gt=0)
    max_gpu_mem_gib: float | None = Field(
        None,
        gt=0,
        validation_alias=AliasChoices("max_gpu_mem_gib", "max_gpu_mem_gb"),
        description="GPU memory limit in GiB (training and inference; max_gpu_mem_gb accepted).",
    )
    gpu_budget_hours: float | None = Field(None, gt=0)
    gpu_budget_usd: float | None = Field(None, gt=0)
    label_budget_usd: float | None = Field(None, gt=0)
    labelled_images: int | None = Field(None, ge=1)
    target_accuracy: float | None = Field(None, gt=0, le=1)
    margin: float = Field(
        0.01,
        ge=0,
        le=1,
        description="The smallest accuracy difference that matters, in the metric's units: "
        "candidates whose difference lies within it are equivalent.",
    )
    domain: Literal["general", "medical", "aerial", "driving", "industrial"] = "general"
    need_pixel_masks: bool | None = None


class PriceRange(StrictModel):
    """Unit prices in US dollars."""

    low: float = Field(ge=0)
    typical: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> PriceRange:
        if not self.low <= self.typical <= self.high:
            raise ValueError("prices must satisfy low <= typical <= high")
        return self


class LabellingPrices(StrictModel):
    """Labelling prices per annotation kind (see README for the sources of the defaults)."""

    box: PriceRange = PriceRange(low=0.05, typical=0.10, high=0.20)
    instance_mask: PriceRange = PriceRange(low=0.30, typical=0.60, high=1.20)
    pixel_mask: PriceRange = PriceRange(low=1.0, typical=3.0, high=5.0)
    panoptic: PriceRange = PriceRange(low=2.0, typical=5.0, high=10.0)


class CostSpec(StrictModel):
    gpu_hour_usd: float = Field(2.5, ge=0, description="Price of one GPU-hour.")
    full_schedule_epochs: int | None = Field(
        None, ge=1, description="Epochs of the full schedule to project training cost to."
    )
