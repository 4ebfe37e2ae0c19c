"""Semantic mask folders: an image folder and a label folder matched by file stem."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchsel.data.images import IMAGE_SUFFIXES, probe_image
from benchsel.data.types import Dataset, ImageRecord, Issues

LABEL_DIR_NAMES = ("labels", "masks", "annotations", "ann_dir", "SegmentationClass", "gt")
IMAGE_DIR_NAMES = ("images", "img_dir", "JPEGImages", "imgs")
LABEL_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")  # lossless: label values survive
LOSSY_SUFFIXES = (".jpg", ".jpeg")


def read_label_png(path: Path) -> np.ndarray:
    """Class-index map of a single-channel or palette label image (palettes store indices)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "P", "I;16", "I"):
            raise ValueError(
                f"label map has mode {im.mode}; "
                "expected a single-channel index or palette PNG, BMP or TIFF"
            )
        return np.asarray(im).astype(np.int64)


def find_mask_dirs(root: Path) -> tuple[Path, Path] | None:
    """(image folder, label folder) under ``root`` by common names, or CamVid's ``X``/``Xannot``."""
    for img_name in IMAGE_DIR_NAMES:
        for lbl_name in LABEL_DIR_NAMES:
            if (root / img_name).is_dir() and (root / lbl_name).is_dir():
                return root / img_name, root / lbl_name
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        annot = root / f"{folder.name}annot"
        if annot.is_dir():
            return folder, annot
    return None


def read_classes_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _by_stem(folder: Path, suffixes: tuple[str, ...], issues: Issues) -> dict[str, Path]:
    """Files of ``folder`` with one of ``suffixes`` (any case) by stem; a stem twice is an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            issues.error(
                path,
                f"{found[path.stem].name} and {path.name} share the name {path.stem!r}; "
                "keep one of them (images and label maps are paired by name)",
            )
            continue
        found[path.stem] = path
    return found


def read_mask_folder(
    image_dir: Path,
    label_dir: Path,
    classes: list[str] | None,
    ignore_index: int,
    issues: Issues,
    check_images: bool = True,
    stems: list[str] | None = None,
) -> Dataset | None:
    """Pair images and label maps by stem; validate sizes and label values.

    Images may be of any type in IMAGE_SUFFIXES and label maps of any in LABEL_SUFFIXES, mixed.
    """
    images = _by_stem(image_dir, IMAGE_SUFFIXES, issues)
    labels = _by_stem(label_dir, LABEL_SUFFIXES, issues)
    for path in sorted(label_dir.iterdir()):
        lossy = path.suffix.lower() in LOSSY_SUFFIXES
        if lossy and path.stem in images and path.stem not in labels:
            issues.error(
                path,
                "label map is a JPEG, whose lossy compression changes label values; save it as PNG",
            )
            del images[path.stem]
    if stems is not None:
        wanted = set(stems)
        images = {k: v for k, v in images.items() if k in wanted}
        labels = {k: v for k, v in labels.items() if k in wanted}
        for stem in sorted(wanted - set(images)):
            issues.error(image_dir / stem, "image listed in the split file is missing")
    for stem in sorted(set(labels) - set(images)):
        issues.error(labels[stem], "label map has no matching image (missing image file)")
    if not images:
        issues.error(image_dir, "no images found")
        return None
    records: list[ImageRecord] = []
    max_label = -1
    for idx, (stem, img_path) in enumerate(sorted(images.items())):
        lbl_path = labels.get(stem)
        if lbl_path is None:
            issues.error(img_path, "image has no label map in " + str(label_dir), idx)
            continue
        size = probe_image(img_path, issues, idx) if check_images else None
        try:
            lbl = read_label_png(lbl_path)
        except (OSError, SyntaxError, ValueError) as exc:
            issues.error(lbl_path, f"unreadable label map ({exc})", idx)
            continue
        h, w = lbl.shape[:2]
        if size is not None and size != (w, h):
            issues.error(
                lbl_path, f"label map is {w}x{h} but the image is {size[0]}x{size[1]}", idx
            )
            continue
        valid = lbl[lbl != ignore_index]
        if valid.size:
            max_label = max(max_label, int(valid.max()))
            if classes is not None and valid.max() >= len(classes):
                bad = sorted(int(v) for v in np.unique(valid) if v >= len(classes))
                issues.error(
                    lbl_path,
                    f"label values {bad} exceed the {len(classes)} classes "
                    f"(ignore index is {ignore_index})",
                    idx,
                )
                continue
        rec = ImageRecord(idx, img_path, w, h, semantic_file=lbl_path)
        records.append(rec)
    if classes is None:
        classes = [f"class_{i}" for i in range(max_label + 1)] or ["class_0"]
        issues.warn(label_dir, f"no class names given; using {len(classes)} numbered classes")
    return Dataset(
        image_dir.parent.name or "masks",
        "mask_folder",
        image_dir.parent,
        classes,
        0,
        records,
        ignore_index=ignore_index,
    )


def write_label_png(labels: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8), mode="L").save(path)
