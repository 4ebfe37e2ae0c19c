"""The architecture catalog: typed entries loaded from ``architectures.yaml``."""

from __future__ import annotations

import difflib
import fnmatch
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchsel.errors import CatalogError
from benchsel.tasks import Task

Family = Literal[
    "yolo",
    "ssd",
    "retinanet",
    "dino",
    "mask_rcnn",
    "mask2former",
    "unet",
    "panoptic_fpn",
    "fcn",
    "deeplabv3plus",
]
Package = Literal["mmdet", "mmseg", "mmyolo"]
# How to install a package that is not a core dependency.
INSTALL_HINTS: dict[str, str] = {
    "mmyolo": (
        "mmyolo (GPL-3.0) is the optional extra benchsel[yolo]: `make install` installs it, or "
        "run `pip install -e '.[yolo]'` in benchsel's environment"
    ),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Strict):
    """Published numbers for the stock config, with where they were published."""

    dataset: str
    metrics: dict[str, float]
    source: str
    weights: str | None = None
    params_m: float | None = None
    gflops: float | None = None
    complexity_source: str | None = None
    train_memory_gb: float | None = None
    inference_ms: float | None = None
    inference_conditions: str | None = None


class Variant(_Strict):
    """A named edit of the stock config (dotted mmengine keys), e.g. a light CPU variant."""

    description: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    input_size: tuple[int, int] | None = None
    backbone: str | None = None  # when the overrides change it (r18-light: "ResNet-18")


class Architecture(_Strict):
    """One catalog entry: an OpenMMLab config plus what benchsel needs to know about it."""

    id: str
    family: Family
    tasks: tuple[Task, ...]
    package: Package
    config: str
    input_size: tuple[int, int]
    description: str
    reference: Reference
    backbone: str  # e.g. "ResNet-50", "Swin-T": what a backbone sweep compares under one head
    head: str | None = None  # the detector design, where a family holds several (YOLO's)
    fixed_input_size: bool = False
    min_input_size: tuple[int, int] = (32, 32)
    # Height and width must be multiples of this: mmyolo's YOLOs pad nothing, and their feature
    # pyramid joins stride-8/16/32 maps, which only line up at multiples of 32.
    size_divisor: int = 1
    # Mixed-precision training by default on a GPU; off where upstream's fp16 path is known
    # to break (``amp_note`` says why).
    amp_default: bool = True
    amp_note: str | None = None
    measured: Measured | None = None
    variants: dict[str, Variant] = Field(default_factory=dict)

    @property
    def primary_task(self) -> Task:
        return self.tasks[0]

    @property
    def output_task(self) -> Task:
        """What the built model predicts: semantic maps for mmseg, panoptic when the entry does
        panoptic (its instance and semantic scores derive from that), else the primary task.
        The one source of a model's task (:attr:`benchsel.adapters.LoadedModel.task`)."""
        if self.package == "mmseg":
            return "semantic"
        return "panoptic" if "panoptic" in self.tasks else self.primary_task

    @property
    def head_name(self) -> str:
        """What a backbone comparison holds fixed: the head, or the family when it has one."""
        return self.head or self.family

    def backbone_of(self, variant: str | None) -> str:
        """The backbone of the stock config or of ``variant`` (which may change it)."""
        chosen = self.variant(variant)
        return chosen.backbone if chosen is not None and chosen.backbone else self.backbone

    def variant(self, name: str | None) -> Variant | None:
        """The named variant (None for the stock config)."""
        if name is None or name == "default":
            return None
        if name not in self.variants:
            known = ", ".join(["default", *self.variants]) or "default"
            raise CatalogError(f"{self.id} has no variant {name!r}; known variants: {known}")
        return self.variants[name]

    def check_input_size(self, size: tuple[int, int]) -> None:
        """Refuse sizes the architecture cannot run at."""
        if self.fixed_input_size and tuple(size) != tuple(self.input_size):
            h, w = self.input_size
            raise CatalogError(
                f"{self.id} only runs at {h}x{w} (its anchors and layers are built for that "
                f"size); got {size[0]}x{size[1]}"
            )
        lo_h, lo_w = self.min_input_size
        if size[0] < lo_h or size[1] < lo_w:
            raise CatalogError(
                f"{self.id} needs an input of at least {lo_h}x{lo_w}; got {size[0]}x{size[1]}"
            )
        step = self.size_divisor
        if size[0] % step or size[1] % step:
            up = tuple(-(-side // step) * step for side in size)
            raise CatalogError(
                f"{self.id} needs an input whose height and width are multiples of {step}; got "
                f"{size[0]}x{size[1]} (try {up[0]}x{up[1]})"
            )

    def config_path(self) -> Path:
        """Absolute path of the config file inside the installed mmdet/mmseg/mmyolo wheel.

        Finding the package does not import it (mmyolo needs ``adapters.mmyolo_shim`` for that).
        """
        import importlib.util

        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            hint = INSTALL_HINTS.get(self.package)
            raise CatalogError(
                f"{self.id} needs {self.package}, which is not installed"
                + (f"; {hint}" if hint else "")
            )
        path = Path(spec.origin).parent / ".mim" / "configs" / self.config
        if not path.is_file():
            raise CatalogError(f"{self.id}: config {self.config} not found in {self.package}")
        return path

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-ready description used by ``benchsel list --json``."""
        return {
            "id": self.id,
            "family": self.family,
            "tasks": list(self.tasks),
            "package": self.package,
            "config": self.config,
            "input_size": list(self.input_size),
            "variants": {k: v.description for k, v in self.variants.items()},
            "description": self.description,
            "reference": self.reference.model_dump(exclude_none=True),
            "measured": self.measured.model_dump() if self.measured else None,
        }


class Measured(_Strict):
    """Complexity counted by benchsel itself at the default input size."""

    params_m: float
    gflops: float


class Unavailable(_Strict):
    """Ids users look for that this install cannot provide, and why."""

    ids: tuple[str, ...]
    family: Family
    reason: str


class Catalog(_Strict):
    schema_version: int
    architectures: tuple[Architecture, ...]
    unavailable: tuple[Unavailable, ...] = ()

    def ids(self) -> list[str]:
        return [a.id for a in self.architectures]

    def get(self, arch_id: str) -> Architecture:
        """The entry for ``arch_id``; unknown ids raise with the closest known ids."""
        for arch in self.architectures:
            if arch.id == arch_id:
                return arch
        for group in self.unavailable:
            if arch_id in group.ids:
                raise CatalogError(f"{arch_id} is not available: {group.reason}")
        close = difflib.get_close_matches(arch_id, self.ids(), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CatalogError(
            f"unknown architecture {arch_id!r}.{hint} Run `benchsel list` for all ids."
        )

    def select(self, pattern: str = "*", task: Task | None = None) -> list[Architecture]:
        """Entries whose id matches a shell-style wildcard and (optionally) support ``task``."""
        return [
            a
            for a in self.architectures
            if fnmatch.fnmatch(a.id, pattern) and (task is None or task in a.tasks)
        ]


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file (the bundled one by default)."""
    if path is None:
        return _bundled_catalog()
    return _parse(path.read_text(), str(path))


@lru_cache(maxsize=1)
def _bundled_catalog() -> Catalog:
    text = resources.files("benchsel.catalog").joinpath("architectures.yaml").read_text()
    return _parse(text, "benchsel/catalog/architectures.yaml")


def _parse(text: str, where: str) -> Catalog:
    try:
        data = yaml.safe_load(text)
        catalog = Catalog.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"invalid catalog {where}: {exc}") from exc
    ids = catalog.ids()
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"invalid catalog {where}: duplicate ids {duplicates}")
    return catalog
