"""Writers of the exports users bring, for tests: the same canonical data set written as an
Ultralytics YOLO folder, a CVAT for images 1.1 xml, a LabelMe folder and a Roboflow COCO export,
each the way its tool lays it out."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from benchsel.data.coco import write_coco
from benchsel.data.types import Dataset, ImageRecord

Shape = Literal["box", "polygon"]
CVAT_SUBSETS = {"train": "Train", "val": "Validation", "test": "Test"}
ROBOFLOW_FOLDERS = {"train": "train", "val": "valid", "test": "test"}
PROJECT = "shapes-x1y2z"  # the phantom category Roboflow names after the project


def split_of(index: int, n: int) -> str:
    """Half the images train, a quarter val, a quarter test."""
    return "train" if index < n // 2 else ("val" if index < 3 * n // 4 else "test")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src.resolve(), dst)


def _splits(ds: Dataset) -> list[tuple[str, ImageRecord]]:
    return [(split_of(k, len(ds.images)), rec) for k, rec in enumerate(ds.images)]


def write_yolo(ds: Dataset, out: Path, shape: Shape) -> None:
    """``data.yaml`` + ``images/<split>/`` + ``labels/<split>/``; polygons keep each object's first
    polygon (YOLO has one per object)."""
    for split, rec in _splits(ds):
        _link(rec.file, out / "images" / split / rec.file.name)
        lines = []
        for inst in rec.instances:
            w, h = rec.width, rec.height
            if shape == "box":
                x1, y1, x2, y2 = inst.box
                coords = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
            else:
                poly = inst.segmentation[0]
                coords = [v / (w if i % 2 == 0 else h) for i, v in enumerate(poly)]
            lines.append(" ".join([str(inst.label), *(f"{v:.6f}" for v in coords)]))
        label = out / "labels" / split / f"{rec.file.stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("\n".join(lines) + "\n")
    names = (
        "\n".join(f"  {i}: {n}" for i, n in enumerate(ds.thing_classes))
        if shape == "box"
        else "\n".join(f"  - {n}" for n in ds.thing_classes)
    )
    (out / "data.yaml").write_text(
        "path: ../datasets/shapes  # where the author kept it\n"
        "train: images/train\nval: images/val\ntest: images/test\n"
        f"nc: {ds.num_things}\nnames:\n{names}\n"
    )


def write_cvat(ds: Dataset, out: Path, shape: Shape) -> None:
    """``annotations.xml`` + ``images/``; polygons keep each object's first polygon."""
    labels = "".join(f"<label><name>{n}</name><type>any</type></label>" for n in ds.thing_classes)
    body = []
    for k, (split, rec) in enumerate(_splits(ds)):
        _link(rec.file, out / "images" / rec.file.name)
        shapes = []
        for inst in rec.instances:
            name = quoteattr(ds.classes[inst.label])
            if shape == "box":
                x1, y1, x2, y2 = inst.box
                shapes.append(
                    f'    <box label={name} source="manual" occluded="0" xtl="{x1:.2f}" '
                    f'ytl="{y1:.2f}" xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="0"></box>'
                )
            else:
                poly = inst.segmentation[0]
                pts = ";".join(f"{poly[i]:.2f},{poly[i + 1]:.2f}" for i in range(0, len(poly), 2))
                shapes.append(
                    f'    <polygon label={name} source="manual" occluded="0" points="{pts}" '
                    f'z_order="0"></polygon>'
                )
        body.append(
            f'  <image id="{k}" name="{rec.file.name}" subset="{CVAT_SUBSETS[split]}" '
            f'width="{rec.width}" height="{rec.height}">\n' + "\n".join(shapes) + "\n  </image>"
        )
    (out / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta><project><name>shapes</name><labels>{labels}</labels></project></meta>\n"
        + "\n".join(body)
        + "\n</annotations>\n"
    )


def write_labelme(ds: Dataset, out: Path, shape: Shape) -> None:
    """``<split>/<stem>.json`` with ``imagePath`` ``../images/<name>``; an object of several
    polygons is several shapes sharing a ``group_id``."""
    for split, rec in _splits(ds):
        _link(rec.file, out / "images" / rec.file.name)
        shapes: list[dict[str, Any]] = []
        for g, inst in enumerate(rec.instances):
            label = ds.classes[inst.label]
            if shape == "box":
                x1, y1, x2, y2 = inst.box
                shapes.append(
                    {
                        "label": label,
                        "points": [[x2, y2], [x1, y1]],
                        "group_id": None,
                        "shape_type": "rectangle",
                        "flags": {},
                    }
                )
                continue
            for poly in inst.segmentation:
                pts = [[poly[i], poly[i + 1]] for i in range(0, len(poly), 2)]
                shapes.append(
                    {
                        "label": label,
                        "points": pts,
                        "group_id": g,
                        "shape_type": "polygon",
                        "flags": {},
                    }
                )
        doc: dict[str, Any] = {
            "version": "5.4.1",
            "flags": {},
            "shapes": shapes,
            "imagePath": f"..\\images\\{rec.file.name}",  # as LabelMe on Windows writes it
            "imageData": None,
            "imageHeight": rec.height,
            "imageWidth": rec.width,
        }
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / f"{rec.file.stem}.json").write_text(json.dumps(doc, indent=2))


def roboflow_name(file: Path) -> str:
    """Roboflow's rewritten file name: ``<stem>_<ext>.rf.<hash>.<ext>``."""
    ext = file.suffix.lstrip(".")
    digest = hashlib.md5(file.name.encode()).hexdigest()
    return f"{file.stem}_{ext}.rf.{digest}.{ext}"


def write_roboflow(ds: Dataset, out: Path) -> None:
    """``train/``, ``valid/``, ``test/``, each with its images and ``_annotations.coco.json``;
    category 0 is the project, the supercategory of the real categories."""
    by_split: dict[str, list[ImageRecord]] = {}
    for split, rec in _splits(ds):
        folder = out / ROBOFLOW_FOLDERS[split]
        dst = folder / roboflow_name(rec.file)
        _link(rec.file, dst)
        by_split.setdefault(split, []).append(replace(rec, file=dst))
    for split, records in by_split.items():
        ann = out / ROBOFLOW_FOLDERS[split] / "_annotations.coco.json"
        part = replace(ds, images=records, category_ids=list(range(1, ds.num_things + 1)))
        write_coco(part, ann)
        data = json.loads(ann.read_text())
        data["categories"] = [{"id": 0, "name": PROJECT, "supercategory": "none"}] + [
            {**c, "supercategory": PROJECT} for c in data["categories"]
        ]
        ann.write_text(json.dumps(data))
    (out / "README.roboflow.txt").write_text("Exported via roboflow.com\n")
