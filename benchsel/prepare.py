"""Prepare a suite's data once: load, validate, split, write each task's OpenMMLab files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchsel.data import Dataset, load_data
from benchsel.data.coco import read_coco
from benchsel.data.coco_panoptic import read_coco_panoptic
from benchsel.data.masks import read_mask_folder
from benchsel.data.openmmlab import write_split
from benchsel.data.sample import generate_sample
from benchsel.data.stats import dataset_stats
from benchsel.data.types import Issues
from benchsel.errors import DataError
from benchsel.suite import Suite

DEFAULT_VAL_FRACTION = 0.2
TASK_NEEDS = {
    "detection": ("coco", "voc", "coco_panoptic"),
    "instance": ("coco", "coco_panoptic"),
    "semantic": ("mask_folder", "coco_panoptic"),
    "panoptic": ("coco_panoptic",),
}


@dataclass
class PreparedData:
    """What every trial of a suite reads: the written splits and facts about the data."""

    root: str
    format: str
    classes: list[str]
    num_things: int
    category_ids: list[int] | None
    ignore_index: int
    train_images: int
    val_images: int
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<task>/<split>" -> cfg
    train_image_counts: dict[str, int] = field(default_factory=dict)  # fraction -> images
    stats: dict[str, Any] = field(default_factory=dict)
    units_per_image: dict[str, float] = field(default_factory=dict)  # task -> label units/image

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> PreparedData:
        return cls(**json.loads(path.read_text()))

    def split_cfg(self, task: str, split: str) -> dict[str, Any]:
        return self.splits[f"{task}/{split}"]

    def val_dataset(self, task: str) -> Dataset:
        """The canonical val split of ``task``, read back from the written files."""
        cfg = self.split_cfg(task, "val")
        issues = Issues()
        ds: Dataset | None
        if task in ("detection", "instance"):
            ds = read_coco(Path(cfg["ann_file"]), None, issues, check_images=False)
        elif task == "panoptic":
            prefix = cfg["data_prefix"]
            ds = read_coco_panoptic(
                Path(cfg["ann_file"]),
                Path(prefix["img"]),
                Path(prefix["seg"]),
                issues,
                check_images=False,
            )
        else:
            prefix = cfg["data_prefix"]
            stems = Path(cfg["ann_file"]).read_text().split()
            ds = read_mask_folder(
                Path(prefix["img_path"]),
                Path(prefix["seg_map_path"]),
                self.classes,
                255,
                issues,
                check_images=False,
                stems=stems,
            )
        if ds is None or issues.errors:
            raise DataError(f"prepared {task} val split is unreadable: {issues.errors[:3]}")
        if task == "semantic" or task == "panoptic":
            ds.classes = list(self.classes)
            ds.num_things = self.num_things
        ds.category_ids = self.category_ids if task != "semantic" else None
        return ds


def pixel_share(ds: Dataset) -> dict[str, float]:
    """Fraction of labelled pixels per class (for class-weighted losses)."""
    import numpy as np

    from benchsel.data.openmmlab import IGNORE, semantic_label_map

    counts = np.zeros(len(ds.classes), dtype=np.int64)
    for im in ds.images:
        labels = semantic_label_map(ds, im).ravel()
        labels = labels[(labels != IGNORE) & (labels >= 0) & (labels < len(ds.classes))]
        counts += np.bincount(labels, minlength=len(ds.classes))
    total = max(int(counts.sum()), 1)
    return {c: int(counts[i]) / total for i, c in enumerate(ds.classes)}


def _format_errors(issues: Issues, limit: int = 10) -> str:
    lines = [f"  - {i}" for i in issues.errors[:limit]]
    more = len(issues.errors) - limit
    if more > 0:
        lines.append(f"  ... and {more} more (run `benchsel data check`)")
    return "\n".join(lines)


def load_suite_data(suite: Suite) -> tuple[Dataset, Dataset, str]:
    """(train, val, format) for a suite; a data set with errors stops the run before any trial."""
    spec = suite.dataset
    if spec.sample is not None:
        root = suite.output / "sample-data"
        generate_sample(root, spec.sample.images, spec.sample.size, spec.sample.seed)
        path, fmt = root, "coco_panoptic"
    else:
        assert spec.path is not None
        path, fmt = spec.path, spec.format
    loaded = load_data(
        path,
        fmt,
        train=spec.train,
        val=spec.val,
        classes=spec.classes,
        ignore_index=spec.ignore_index,
    )
    if loaded.issues.errors:
        raise DataError(f"the data set {path} has errors:\n{_format_errors(loaded.issues)}")
    splits = loaded.splits
    split_cfg = spec.split
    if "train" in splits and "val" in splits and split_cfg is None:
        train, val = splits["train"], splits["val"]
    else:
        whole = splits.get("all") or next(iter(splits.values()))
        if len(splits) > 1:
            raise DataError(f"{path} has splits {sorted(splits)}; name `train` and `val` files")
        frac = split_cfg.val_fraction if split_cfg else DEFAULT_VAL_FRACTION
        seed = split_cfg.seed if split_cfg else 0
        train, val = whole.split(frac, seed)
    if not train.images or not val.images:
        raise DataError(f"{path}: need images in both train and val splits")
    return train, val, loaded.format


def prepare(suite: Suite, tasks: Iterable[str], work: Path) -> PreparedData:
    """Load and validate the suite's data and write what each task's trials need."""
    tasks = set(tasks)
    train, val, fmt = load_suite_data(suite)
    for task in sorted(tasks):
        if fmt not in TASK_NEEDS[task]:
            raise DataError(
                f"task {task!r} needs {' or '.join(TASK_NEEDS[task])} data; "
                f"{suite.dataset.path or 'the sample'} is {fmt}"
            )
    seed = suite.dataset.split.seed if suite.dataset.split else 0
    prepared = PreparedData(
        root=str(work),
        format=fmt,
        classes=list(train.classes),
        num_things=train.num_things,
        category_ids=train.category_ids,
        ignore_index=train.ignore_index,
        train_images=len(train.images),
        val_images=len(val.images),
        stats={"train": dataset_stats(train), "val": dataset_stats(val)},
    )
    for fraction in suite.training.data_fractions:
        subset = train.fraction(fraction, seed) if fraction < 1 else train
        prepared.train_image_counts[f"{fraction:g}"] = len(subset.images)
        for task in sorted(tasks):
            mm = write_split(subset, task, work, f"train_f{fraction:g}", for_training=True)
            prepared.splits[f"{task}/train@{fraction:g}"] = mm.dataset_cfg
    if "semantic" in tasks:
        prepared.stats["train_pixel_share"] = pixel_share(train)
    for task in sorted(tasks):
        prepared.splits[f"{task}/val"] = write_split(val, task, work, "val", False).dataset_cfg
        images = len(train.images) or 1
        if task in ("detection", "instance"):
            prepared.units_per_image[task] = sum(len(im.instances) for im in train.images) / images
        else:
            prepared.units_per_image[task] = 1.0
    work.mkdir(parents=True, exist_ok=True)
    prepared.save(work / "prepared.json")
    return prepared
