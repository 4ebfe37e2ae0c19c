"""``benchsel data convert``: what benchsel read, written as COCO so any COCO tool can check it."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from benchsel.data.coco import write_coco
from benchsel.data.loader import LoadedData
from benchsel.errors import DataError


def convert_to_coco(loaded: LoadedData, out: Path, copy: bool = False) -> dict[str, Path]:
    """Write each split as ``out/annotations/instances_<split>.json`` + ``out/<split>/`` images.

    Images are symlinked (``copy``: copied); two images of a split with one name are told apart
    by their image id. Returns the json of each split.
    """
    if not loaded.splits:
        raise DataError("nothing to convert: no split was read")
    for split, ds in loaded.splits.items():
        if not ds.has_instances:
            raise DataError(
                f"split {split!r} ({loaded.format}) holds no instances to write as COCO"
            )
    written: dict[str, Path] = {}
    for split, ds in loaded.splits.items():
        image_dir = out / split
        image_dir.mkdir(parents=True, exist_ok=True)
        records, taken = [], set()
        for rec in ds.images:
            name = rec.file.name if rec.file.name not in taken else f"{rec.id}_{rec.file.name}"
            taken.add(name)
            _place(rec.file, image_dir / name, copy)
            records.append(replace(rec, file=image_dir / name))
        ann = out / "annotations" / f"instances_{split}.json"
        write_coco(replace(ds, images=records, format="coco"), ann)
        written[split] = ann
    return written


def _place(src: Path, dst: Path, copy: bool) -> None:
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if not src.is_file():
        return  # a missing image stays missing; `data check` reports it
    if copy:
        shutil.copy2(src, dst)
        return
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # file systems without symlinks
        shutil.copy2(src, dst)
