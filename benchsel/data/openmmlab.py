"""Feed canonical data to OpenMMLab: annotation files and dataset configs, images not copied.

detection / instance -> a COCO json (absolute image paths) for mmdet's ``CocoDataset``;
panoptic -> a COCO panoptic json + segment PNGs for ``CocoPanopticDataset``;
semantic -> a folder of symlinked images and label PNGs + a split file for ``BaseSegDataset``.
The same files are read back by benchsel's loaders to score predictions.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.data.coco import write_coco
from benchsel.data.coco_panoptic import read_segment_png
from benchsel.data.masks import read_label_png, write_label_png
from benchsel.data.types import Dataset, ImageRecord

IGNORE = 255


@dataclass
class MMSplit:
    """Files written for one split and task, plus the dataset config that reads them."""

    task: str
    annotation: Path  # COCO / panoptic json, or the split file (semantic)
    dataset_cfg: dict[str, Any]


def _polygons_from_rle(rle: dict[str, Any]) -> list[list[float]]:
    import cv2
    from pycocotools import mask as mask_utils

    mask = mask_utils.decode(rle).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[float(v) + 0.5 for v in c.reshape(-1)] for c in contours if len(c) >= 3]


def _with_polygons(ds: Dataset) -> Dataset:
    """Non-crowd RLE masks as polygons: some mmdet pipelines (poly2mask=False) ignore RLE."""
    import copy

    out = copy.copy(ds)
    out.images = []
    for im in ds.images:
        rec = copy.copy(im)
        rec.instances = []
        for inst in im.instances:
            if isinstance(inst.segmentation, dict) and not inst.iscrowd:
                polys = _polygons_from_rle(inst.segmentation)
                if not polys:
                    continue
                inst = copy.copy(inst)
                inst.segmentation = polys
            rec.instances.append(inst)
        out.images.append(rec)
    return out


def semantic_label_map(ds: Dataset, im: ImageRecord) -> np.ndarray:
    """Per-pixel class index (void / ignored pixels -> 255) from whichever labels ``im`` has."""
    if im.semantic_file is not None:
        labels = read_label_png(im.semantic_file)
        if ds.ignore_index != IGNORE:
            labels = np.where(labels == ds.ignore_index, IGNORE, labels)
        return labels
    if im.panoptic_file is not None:
        ids = read_segment_png(im.panoptic_file)
        labels = np.full(ids.shape, IGNORE, dtype=np.int64)
        for seg in im.segments:
            labels[ids == seg.id] = IGNORE if seg.iscrowd else seg.label
        return labels
    raise ValueError(f"image {im.id} has no semantic or panoptic labels")


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target.resolve(), link)


def write_mmdet_split(ds: Dataset, out: Path, name: str, polygons: bool = True) -> MMSplit:
    """COCO json for detection / instance data (training wants polygons: see _with_polygons)."""
    path = out / f"{name}_instances.json"
    write_coco(_with_polygons(ds) if polygons else ds, path, absolute_paths=True)
    cfg = {
        "type": "CocoDataset",
        "data_root": "",
        "ann_file": str(path),
        "data_prefix": {"img": ""},
        "metainfo": {"classes": tuple(ds.thing_classes)},
        "filter_cfg": {"filter_empty_gt": False, "min_size": 1},
    }
    return MMSplit("instance", path, cfg)


def write_panoptic_split(ds: Dataset, out: Path, name: str) -> MMSplit:
    """COCO panoptic json + PNGs laid out as mmdet's CocoPanopticDataset reads them.

    mmdet derives each PNG's name from the image's (``x.jpg`` -> ``x.png`` in the seg folder),
    so images are symlinked as ``<id>.jpg`` (decoding looks at content, not the suffix) next
    to ``<id>.png`` segment maps, themselves symlinks to the source PNGs.
    """
    path = out / f"{name}_panoptic.json"
    png_dir = out / f"{name}_panoptic"
    img_dir = out / f"{name}_panoptic_images"
    png_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    cat_ids = ds.category_ids or list(range(1, len(ds.classes) + 1))
    images, anns = [], []
    for im in ds.images:
        png = png_dir / f"{im.id}.png"
        _link(im.file, img_dir / f"{im.id}.jpg")
        if im.panoptic_file is None:  # prepare() only sends panoptic data here
            raise ValueError(f"image {im.id} has no panoptic segmentation")
        _link(im.panoptic_file, png)
        segments = im.segments
        images.append(
            {"id": im.id, "file_name": f"{im.id}.jpg", "width": im.width, "height": im.height}
        )
        infos = []
        for seg in segments:
            x1, y1, x2, y2 = seg.box or (0.0, 0.0, 0.0, 0.0)
            infos.append(
                {
                    "id": seg.id,
                    "category_id": cat_ids[seg.label],
                    "iscrowd": int(seg.iscrowd),
                    "area": seg.area,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                }
            )
        anns.append({"image_id": im.id, "file_name": png.name, "segments_info": infos})
    cats = [
        {"id": cat_ids[i], "name": n, "isthing": int(i < ds.num_things)}
        for i, n in enumerate(ds.classes)
    ]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    cfg = {
        "type": "CocoPanopticDataset",
        "data_root": "",
        "ann_file": str(path),
        "data_prefix": {"img": str(img_dir) + "/", "seg": str(png_dir) + "/"},
        "metainfo": {
            "classes": tuple(ds.classes),
            "thing_classes": tuple(ds.thing_classes),
            "stuff_classes": tuple(ds.stuff_classes),
        },
        "filter_cfg": {"filter_empty_gt": False, "min_size": 1},
    }
    return MMSplit("panoptic", path, cfg)


def write_semantic_split(ds: Dataset, out: Path, name: str) -> MMSplit:
    """Symlinked images, label PNGs (255 = ignore) and a split file for mmseg.

    mmseg's BaseSegDataset takes one image suffix, so images of mixed types are all linked as
    ``.png`` (decoders look at a file's content, not its suffix). Each split gets its own
    folders: separately loaded train and val splits can share image ids.
    """
    img_dir, ann_dir = out / f"{name}_seg_images", out / f"{name}_seg_labels"
    for folder in (img_dir, ann_dir):  # links and maps of an earlier run may be stale
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    suffixes = {im.file.suffix.lower() for im in ds.images}
    img_suffix = suffixes.pop() if len(suffixes) == 1 else ".png"
    stems = []
    for im in ds.images:
        stem = f"{im.id:08d}"
        _link(im.file, img_dir / f"{stem}{img_suffix}")
        label_path = ann_dir / f"{stem}.png"
        src = im.semantic_file
        if src is not None and src.suffix.lower() == ".png" and ds.ignore_index == IGNORE:
            _link(src, label_path)
        else:
            write_label_png(semantic_label_map(ds, im), label_path)
        stems.append(stem)
    split = out / f"{name}_semantic.txt"
    split.write_text("\n".join(stems) + "\n")
    rng = np.random.default_rng(0)
    cfg = {
        "type": "BaseSegDataset",
        "data_root": "",
        "ann_file": str(split),
        "data_prefix": {"img_path": str(img_dir), "seg_map_path": str(ann_dir)},
        "img_suffix": img_suffix,
        "seg_map_suffix": ".png",
        "reduce_zero_label": False,
        "metainfo": {
            "classes": tuple(ds.classes),
            "palette": rng.integers(0, 256, (len(ds.classes), 3)).tolist(),
        },
    }
    return MMSplit("semantic", split, cfg)


def write_split(ds: Dataset, task: str, out: Path, name: str, for_training: bool) -> MMSplit:
    """The files ``task`` needs for ``ds``, under ``out`` (val splits keep exact RLE masks)."""
    out.mkdir(parents=True, exist_ok=True)
    if task in ("detection", "instance"):
        return write_mmdet_split(ds, out, name, polygons=for_training)
    if task == "panoptic":
        return write_panoptic_split(ds, out, name)
    return write_semantic_split(ds, out, name)
