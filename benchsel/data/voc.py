"""Pascal VOC: one XML file of boxes per image (with ``difficult``)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path, PureWindowsPath

from benchsel.data.coco import check_image_files, warn_empty
from benchsel.data.images import IMAGE_SUFFIXES
from benchsel.data.types import Dataset, ImageRecord, Instance, Issues


def _num(node: ET.Element | None, tag: str) -> float:
    child = node.find(tag) if node is not None else None
    if child is None or child.text is None:
        raise ValueError(f"missing <{tag}>")
    return float(child.text)


def _files_by_lower_name(folder: Path) -> dict[str, Path]:
    """The files of ``folder`` keyed by lower-cased name, for case-insensitive look-ups."""
    if not folder.is_dir():
        return {}
    with os.scandir(folder) as entries:
        return {e.name.lower(): folder / e.name for e in entries if e.is_file()}


def _resolve_image(
    xml: Path, named: str | None, image_dir: Path, files: dict[str, Path]
) -> tuple[Path | None, str]:
    """The image of one XML, as mmdet and torchvision find it, and a note for the user.

    ``<filename>`` is tried first (its base name in the image folder; an absolute path that exists
    also counts), then the XML's id and the named file's stem with each image extension in any
    case. The note is a warning when a file other than ``<filename>`` was used, or the error
    (what was tried) when nothing matched; empty when ``<filename>`` was found as named.
    """
    base = PureWindowsPath(named).name if named else ""  # handles / and \ separators
    if base and (image_dir / base).is_file():
        return image_dir / base, ""
    if named and Path(named).is_absolute() and Path(named).is_file():
        return Path(named), ""
    stems = list(dict.fromkeys(s for s in (xml.stem, PureWindowsPath(base).stem) if s))
    for stem in stems:
        for ext in IMAGE_SUFFIXES:
            found = files.get(f"{stem}{ext}".lower())
            if found is not None:
                note = f"<filename> {named!r} is not in {image_dir}; using {found}" if named else ""
                return found, note
    exts = ",".join(e.lstrip(".") for e in IMAGE_SUFFIXES)
    tried = ([base] if base else []) + [f"{stem}.{{{exts}}}" for stem in stems]
    return None, (
        f"image file is missing: tried {', '.join(tried)} (extensions in any case) in {image_dir}"
    )


def read_voc(
    root: Path,
    issues: Issues,
    classes: list[str] | None = None,
    stems: list[str] | None = None,
    check_images: bool = True,
) -> Dataset | None:
    """Read ``root/Annotations/*.xml`` with images in ``root/JPEGImages`` (or ``root/images``).

    Each image is found from ``<filename>`` or, when labelling tools wrote a name that is not
    there, from the XML's id (see ``_resolve_image``).
    """
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
    files = _files_by_lower_name(image_dir)
    label_of = {n: i for i, n in enumerate(classes)}
    records = []
    missing: set[int] = set()
    ann_id = 0
    for idx, (xml, tree) in enumerate(parsed):
        try:
            size = tree.find("size")
            width, height = int(_num(size, "width")), int(_num(size, "height"))
        except ValueError as exc:
            issues.error(xml, f"bad <size>: {exc}", idx)
            continue
        named = (tree.findtext("filename") or "").strip() or None
        file, note = _resolve_image(xml, named, image_dir, files)
        if file is None:
            missing.add(idx)
            if check_images:
                issues.error(xml, note, idx)
        elif note:
            issues.warn(xml, note, idx)
        fallback = PureWindowsPath(named).name if named else f"{xml.stem}.jpg"
        rec = ImageRecord(idx, file or image_dir / fallback, width, height)
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
        check_image_files((r for r in records if r.id not in missing), issues)
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
