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
from benchsel.data.labelling import label_units_per_image
from benchsel.data.masks import read_mask_folder
from benchsel.data.openmmlab import write_split
from benchsel.data.sample import generate_sample
from benchsel.data.stats import dataset_stats
from benchsel.data.types import Issues
from benchsel.errors import DataError
from benchsel.pipeline.layout import RunLayout
from benchsel.suite import Suite
from benchsel.tasks import task_info

DEFAULT_VAL_FRACTION = 0.2


def fraction_key(fraction: float) -> str:
    """How a data fraction names its training split and image count (``0.25``, ``1``)."""
    return f"{fraction:g}"


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
    test_images: int = 0  # a held-out split scored by every trial (0: none)
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<task>/<split>" -> cfg
    train_image_counts: dict[str, int] = field(default_factory=dict)  # fraction -> images
    stats: dict[str, Any] = field(default_factory=dict)
    units_per_image: dict[str, float] = field(default_factory=dict)  # task -> label units/image
    cache: str = ""  # checkpoint cache folder of the run

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> PreparedData:
        return cls(**json.loads(path.read_text()))

    def split_cfg(self, task: str, split: str) -> dict[str, Any]:
        return self.splits[f"{task}/{split}"]

    def train_split_cfg(self, task: str, fraction: float) -> dict[str, Any]:
        """The OpenMMLab dataset config of ``task``'s training split at ``fraction``."""
        return self.split_cfg(task, f"train@{fraction_key(fraction)}")

    def train_images_at(self, fraction: float) -> int:
        """Training images in the nested subset of ``fraction``."""
        return self.train_image_counts[fraction_key(fraction)]

    @property
    def cache_dir(self) -> Path:
        """Where checkpoints fetched from URLs are kept for this run."""
        return Path(self.cache)

    def val_dataset(self, task: str) -> Dataset:
        """The canonical val split of ``task``, read back from the written files."""
        return self.dataset(task, "val")

    def test_dataset(self, task: str) -> Dataset | None:
        """The held-out test split of ``task`` (None when the data has none)."""
        return self.dataset(task, "test") if f"{task}/test" in self.splits else None

    def dataset(self, task: str, split: str) -> Dataset:
        """The canonical ``split`` (val or test) of ``task``, read back from the written files."""
        cfg = self.split_cfg(task, split)
        issues = Issues()
        ds: Dataset | None
        info = task_info(task)
        if info.things_only:
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
            raise DataError(f"prepared {task} {split} split is unreadable: {issues.errors[:3]}")
        if not info.things_only:
            ds.classes = list(self.classes)
            ds.num_things = self.num_things
        ds.category_ids = self.category_ids if "bbox" in info.evaluations else None
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


def load_suite_data(
    suite: Suite, layout: RunLayout
) -> tuple[Dataset, Dataset, Dataset | None, str]:
    """(train, val, test or None, format) for a suite; a data set with errors stops the run
    before any trial."""
    spec = suite.dataset
    if spec.sample is not None:
        root = layout.sample_dir
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
        test=spec.test,
        classes=spec.classes,
        ignore_index=spec.ignore_index,
    )
    if loaded.issues.errors:
        raise DataError(f"the data set {path} has errors:\n{_format_errors(loaded.issues)}")
    splits = dict(loaded.splits)
    test = splits.pop("test", None)
    if spec.test and test is None:
        raise DataError(f"{path}: the test split {spec.test!r} holds no images")
    split_cfg = spec.split
    if "train" in splits and "val" in splits and split_cfg is None:
        train, val = splits["train"], splits["val"]
    else:
        whole = splits.get("all") or next(iter(splits.values()))
        if len(splits) > 1:
            raise DataError(f"{path} has splits {sorted(splits)}; name `train` and `val` files")
        frac = split_cfg.val_fraction if split_cfg else DEFAULT_VAL_FRACTION
        seed = split_cfg.seed if split_cfg else 0
        if split_cfg is not None and split_cfg.test_fraction:
            # The test images leave first, then val is the same fraction of the whole as asked.
            whole, test = whole.split(split_cfg.test_fraction, seed + 1)
            frac = min(0.9, frac / (1 - split_cfg.test_fraction))
        train, val = whole.split(frac, seed)
    if not train.images or not val.images:
        raise DataError(f"{path}: need images in both train and val splits")
    if test is not None:
        _check_held_out(train, val, test, path)
    return train, val, test, loaded.format


def _check_held_out(train: Dataset, val: Dataset, test: Dataset, path: Path) -> None:
    """A test split must share the classes and none of the images of train and val."""
    if list(test.classes) != list(train.classes):
        raise DataError(
            f"{path}: the test split's classes {test.classes} differ from train's {train.classes}"
        )
    seen = {im.file.resolve() for im in (*train.images, *val.images)}
    shared = [im.file for im in test.images if im.file.resolve() in seen]
    if shared:
        raise DataError(
            f"{path}: {len(shared)} test image(s) are also in train or val (e.g. {shared[0]}): "
            "a held-out split must not repeat them"
        )


def prepare(suite: Suite, tasks: Iterable[str], layout: RunLayout) -> PreparedData:
    """Load and validate the suite's data and write what each task's trials need."""
    tasks = set(tasks)
    work = layout.data_dir
    train, val, test, fmt = load_suite_data(suite, layout)
    for task in sorted(tasks):
        formats = task_info(task).formats
        if fmt not in formats:
            raise DataError(
                f"task {task!r} needs {' or '.join(formats)} data; "
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
        test_images=len(test.images) if test is not None else 0,
        stats={"train": dataset_stats(train), "val": dataset_stats(val)}
        | ({"test": dataset_stats(test)} if test is not None else {}),
        cache=str(layout.cache_dir),
    )
    for fraction in suite.training.data_fractions:
        subset = train.fraction(fraction, seed) if fraction < 1 else train
        key = fraction_key(fraction)
        prepared.train_image_counts[key] = len(subset.images)
        for task in sorted(tasks):
            mm = write_split(subset, task, work, f"train_f{key}", for_training=True)
            prepared.splits[f"{task}/train@{key}"] = mm.dataset_cfg
    if "semantic" in tasks:
        prepared.stats["train_pixel_share"] = pixel_share(train)
    for task in sorted(tasks):
        prepared.splits[f"{task}/val"] = write_split(val, task, work, "val", False).dataset_cfg
        if test is not None:
            prepared.splits[f"{task}/test"] = write_split(
                test, task, work, "test", False
            ).dataset_cfg
        prepared.units_per_image[task] = label_units_per_image(train, task)
    work.mkdir(parents=True, exist_ok=True)
    prepared.save(layout.prepared)
    return prepared
