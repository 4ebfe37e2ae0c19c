"""CVAT for images 1.1: one ``annotations.xml`` of ``<image>`` elements holding ``<box>`` and
``<polygon>`` shapes; the images in ``images/`` beside it (as CVAT's export with images writes).

Classes come from the ``<meta>`` label list, in its order; splits from each image's ``subset``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from benchsel.data.coco import check_image_files, warn_empty
from benchsel.data.shapes import Box, add_instance
from benchsel.data.types import Dataset, ImageRecord, Issues

SHAPES_READ = ("box", "polygon")
SHAPES_SKIPPED = ("polyline", "points", "mask", "ellipse", "cuboid", "skeleton")
SUBSET_SPLITS = {
    "train": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "test": "test",
}


def is_cvat_xml(path: Path) -> bool:
    """Whether ``path`` starts like CVAT's ``<annotations>`` (VOC's root is ``<annotation>``)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return "<annotations" in head and ("<version>" in head or "<meta" in head or "<image" in head)


def find_cvat_xml(folder: Path) -> Path | None:
    """``annotations.xml``, or the one other CVAT xml, directly in ``folder``."""
    if (folder / "annotations.xml").is_file():
        return folder / "annotations.xml"
    found = [p for p in sorted(folder.glob("*.xml")) if is_cvat_xml(p)]
    return found[0] if len(found) == 1 else None


def _float(node: ET.Element, attr: str) -> float:
    value = node.get(attr)
    if value is None:
        raise ValueError(f"missing {attr}")
    return float(value)


def _points(text: str | None) -> list[float]:
    """CVAT's ``"x1,y1;x2,y2;..."`` as a flat list."""
    if not text:
        raise ValueError("missing points")
    flat = [float(v) for pair in text.strip().split(";") for v in pair.split(",")]
    if len(flat) % 2:
        raise ValueError(f"odd number of coordinates in {text!r}")
    return flat


def _geometry(shape: ET.Element) -> tuple[Box | None, list[list[float]] | None]:
    """(box, None) of a ``<box>``, (None, [polygon]) of a ``<polygon>``; ValueError if bad."""
    if shape.tag == "box":
        x1, y1, x2, y2 = (_float(shape, a) for a in ("xtl", "ytl", "xbr", "ybr"))
        return (x1, y1, x2, y2), None
    return None, [_points(shape.get("points"))]


def _image_file(xml: Path, name: str, subset: str | None) -> Path:
    """Where CVAT's export keeps an image: ``images/[subset/]name``, else beside the xml."""
    candidates = [xml.parent / "images" / name, xml.parent / name]
    if subset:
        candidates.insert(1, xml.parent / "images" / subset / name)
    return next((c for c in candidates if c.is_file()), candidates[0])


def read_cvat(
    xml: Path, issues: Issues, classes: list[str] | None = None, check_images: bool = True
) -> dict[str, Dataset]:
    """The data sets of one CVAT xml, by split ('all' when its images carry no known subset)."""
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        issues.error(xml, f"does not parse at line {line}, column {col + 1}: {exc}")
        return {}
    except OSError as exc:
        issues.error(xml, f"cannot read it: {exc}")
        return {}
    if root.tag != "annotations":
        issues.error(xml, f"expected CVAT's <annotations> root element, got <{root.tag}>")
        return {}
    if root.find("track") is not None:
        issues.error(xml, "holds <track> elements (CVAT for video); export as CVAT for images 1.1")
        return {}
    images = root.findall("image")
    if classes is None:
        meta = root.find("meta")
        labels = meta.iter("label") if meta is not None else iter(())
        declared = [(lbl.findtext("name") or "").strip() for lbl in labels]
        seen = {s.get("label", "") for im in images for s in im if s.tag in SHAPES_READ}
        classes = list(dict.fromkeys(n for n in declared if n)) or sorted(n for n in seen if n)
    label_of = {n: i for i, n in enumerate(classes)}
    by_split: dict[str, list[ImageRecord]] = {}
    skipped: Counter[str] = Counter()
    ann_id = 0
    for idx, node in enumerate(images, 1):
        name = node.get("name") or ""
        try:
            width, height = int(_float(node, "width")), int(_float(node, "height"))
        except ValueError as exc:
            issues.error(xml, f"<image> {idx}: bad size ({exc})", name or idx)
            continue
        subset = node.get("subset")
        split = SUBSET_SPLITS.get((subset or "").lower(), "all")
        rec = ImageRecord(idx, _image_file(xml, name, subset), width, height)
        for shape in node:
            if shape.tag not in SHAPES_READ:
                if shape.tag in SHAPES_SKIPPED:
                    skipped[shape.tag] += 1
                continue
            ann_id += 1
            where = f"<{shape.tag}> {ann_id}"
            label = shape.get("label", "")
            if label not in label_of:
                issues.error(xml, f"{where}: label {label!r} is not in the label list", name)
                continue
            try:
                box, polygons = _geometry(shape)
            except ValueError as exc:
                issues.error(xml, f"{where}: bad coordinates ({exc})", name)
                continue
            if polygons and len(polygons[0]) < 6:
                issues.warn(xml, f"{where}: polygon with fewer than 3 points (dropped)", name)
                continue
            if float(shape.get("rotation") or 0):
                issues.warn(xml, f"{where}: rotation ignored (read as an axis-aligned box)", name)
            add_instance(
                rec,
                ann_id,
                label_of[label],
                issues,
                xml,
                box=box,
                polygons=polygons,
                where=where,
                image=name,
            )
        by_split.setdefault(split, []).append(rec)
    for tag, n in sorted(skipped.items()):
        issues.warn(xml, f"{n} <{tag}> shapes not read (benchsel reads <box> and <polygon>)")
    if "all" in by_split and len(by_split) > 1:
        n = len(by_split["all"])
        issues.warn(xml, f"{n} images without a train/validation/test subset are read as train")
        by_split.setdefault("train", []).extend(by_split.pop("all"))
    if not images:
        issues.error(xml, "holds no <image> elements")
    out = {}
    for split, records in by_split.items():
        ds = Dataset(
            f"{xml.stem}:{split}", "cvat", xml.parent, list(classes), len(classes), records
        )
        warn_empty(ds, xml, issues)
        if check_images:
            check_image_files(records, issues)
        out[split] = ds
    return out
