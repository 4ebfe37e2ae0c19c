"""Pascal VOC: one XML file of boxes per image (with ``difficult``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from benchsel.data.coco import check_image_files, warn_empty
from benchsel.data.types import Dataset, ImageRecord, Instance, Issues


def _num(node: ET.Element | None, tag: str) -> float:
    child = node.find(tag) if node is not None else None
    if child is None or child.text is None:
        raise ValueError(f"missing <{tag}>")
    return float(child.text)


def read_voc(
    root: Path,
    issues: Issues,
    classes: list[str] | None = None,
    stems: list[str] | None = None,
    check_images: bool = True,
) -> Dataset | None:
    """Read ``root/Annotations/*.xml`` with images in ``root/JPEGImages`` (or ``root/images``)."""
    ann_dir = root / "Annotations"
    xmls = sorted(ann_dir.glob("*.xml"))
    if stems is not None:
        wanted = set(stems)
        xmls = [x for x in xmls if x.stem in wanted]
    if not xmls:
        issues.error(ann_dir, "no VOC XML files found")
        return None
    parsed: list[tuple[Path, ET.Element]] = []
    names: set[str] = set()
    for xml in xmls:
        try:
            tree = ET.parse(xml).getroot()
        except (ET.ParseError, OSError) as exc:
            issues.error(xml, f"annotation file does not parse: {exc}")
            continue
        parsed.append((xml, tree))
        names.update((o.findtext("name") or "").strip() for o in tree.iter("object"))
    classes = classes or sorted(n for n in names if n)
    image_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root / "images"
    label_of = {n: i for i, n in enumerate(classes)}
    records = []
    ann_id = 0
    for idx, (xml, tree) in enumerate(parsed):
        try:
            size = tree.find("size")
            width, height = int(_num(size, "width")), int(_num(size, "height"))
        except ValueError as exc:
            issues.error(xml, f"bad <size>: {exc}", idx)
            continue
        fname = tree.findtext("filename") or f"{xml.stem}.jpg"
        rec = ImageRecord(idx, image_dir / fname, width, height)
        for obj in tree.iter("object"):
            ann_id += 1
            name = (obj.findtext("name") or "").strip()
            if name not in label_of:
                issues.error(xml, f"class {name!r} is not in the class list", idx, ann_id)
                continue
            try:
                bb = obj.find("bndbox")
                x1, y1 = _num(bb, "xmin") - 1, _num(bb, "ymin") - 1  # VOC is 1-based, inclusive
                x2, y2 = _num(bb, "xmax"), _num(bb, "ymax")
            except ValueError as exc:
                issues.error(xml, f"bad <bndbox>: {exc}", idx, ann_id)
                continue
            if x2 <= x1 or y2 <= y1:
                issues.warn(xml, f"zero-area box ({x1}, {y1}, {x2}, {y2}) (dropped)", idx, ann_id)
                continue
            cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(width, x2), min(height, y2)
            if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
                issues.warn(xml, "box extends outside the image (clipped)", idx, ann_id)
            difficult = (obj.findtext("difficult") or "0").strip() == "1"
            rec.instances.append(
                Instance(
                    ann_id,
                    label_of[name],
                    (cx1, cy1, cx2, cy2),
                    (cx2 - cx1) * (cy2 - cy1),
                    difficult=difficult,
                )
            )
        records.append(rec)
    dataset = Dataset(root.name, "voc", root, list(classes), len(classes), records)
    warn_empty(dataset, ann_dir, issues)
    if check_images:
        check_image_files(dataset, issues)
    return dataset


def write_voc(dataset: Dataset, root: Path) -> None:
    """Write boxes as VOC XML files under ``root/Annotations`` (images are not copied)."""
    ann_dir = root / "Annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    for rec in dataset.images:
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = rec.file.name
        size = ET.SubElement(ann, "size")
        for tag, val in (("width", rec.width), ("height", rec.height), ("depth", 3)):
            ET.SubElement(size, tag).text = str(val)
        for inst in rec.instances:
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = dataset.classes[inst.label]
            ET.SubElement(obj, "difficult").text = str(int(inst.difficult))
            bb = ET.SubElement(obj, "bndbox")
            x1, y1, x2, y2 = inst.box
            corners = {"xmin": x1 + 1, "ymin": y1 + 1, "xmax": x2, "ymax": y2}
            for tag, coord in corners.items():
                ET.SubElement(bb, tag).text = f"{coord:g}"
        ET.ElementTree(ann).write(ann_dir / f"{Path(rec.file.name).stem}.xml")
