"""Loading the splits of a data set, in the format `benchsel.data.detect` found, with checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchsel.data.coco import read_coco
from benchsel.data.coco_panoptic import read_coco_panoptic
from benchsel.data.cvat import find_cvat_xml, read_cvat
from benchsel.data.detect import (
    FORMATS,
    SPLIT_NAMES,
    detect_format,
    labelme_splits,
    lone_test_as_val,
    split_files,
    split_name,
)
from benchsel.data.labelme import labelme_jsons, read_labelme, read_labels_txt
from benchsel.data.masks import find_mask_dirs, read_classes_file, read_mask_folder
from benchsel.data.types import Dataset, Issues
from benchsel.data.voc import read_voc
from benchsel.data.yolo import (
    YoloLayout,
    find_yolo_yaml,
    read_yolo_split,
    read_yolo_yaml,
)
from benchsel.errors import DataError


@dataclass
class LoadedData:
    """The splits found at a path ('train' / 'val' / 'test', or 'all' for one unsplit set)."""

    format: str
    splits: dict[str, Dataset] = field(default_factory=dict)
    issues: Issues = field(default_factory=Issues)

    @property
    def ok(self) -> bool:
        return bool(self.splits) and not self.issues.errors


def load_data(
    path: Path,
    fmt: str = "auto",
    *,
    train: str | None = None,
    val: str | None = None,
    test: str | None = None,
    classes: list[str] | None = None,
    ignore_index: int = 255,
    check_images: bool = True,
) -> LoadedData:
    """Load every split at ``path``; problems are collected, never raised (except unknown format).

    ``train`` / ``val`` / ``test`` name split files or folders relative to ``path``; when any is
    given, only those are read. Otherwise the splits come from the layout, a test split beside a
    val split as ``splits["test"]``.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"{path} does not exist")
    out = LoadedData(fmt)
    issues = out.issues
    named = {k: v for k, v in zip(SPLIT_NAMES, (train, val, test), strict=True) if v}
    if fmt == "mask_folder" and classes is None and (path / "classes.txt").is_file():
        classes = read_classes_file(path / "classes.txt")

    if fmt in ("coco", "coco_panoptic"):
        if named:
            files = {k: path / v for k, v in named.items()}
        elif path.is_file():
            files = {"all": path}
        else:
            files = split_files(path, fmt)
        for split, file in files.items():
            if not file.is_file():
                issues.error(file, "annotation file not found")
                continue
            if fmt == "coco":
                ds = read_coco(file, None, issues, check_images)
            else:
                ds = read_coco_panoptic(file, None, None, issues, check_images)
            if ds is not None:
                out.splits[split] = ds
    elif fmt == "voc":
        _load_voc(path, out, named, classes, check_images)
    elif fmt == "yolo":
        _load_yolo(path, out, named, classes, check_images)
    elif fmt == "cvat":
        _load_cvat(path, out, named, classes, check_images)
    elif fmt == "labelme":
        _load_labelme(path, out, named, classes, check_images)
    else:
        _load_masks(path, out, named, classes, ignore_index, check_images)
    if not out.splits and not issues.errors:
        issues.error(path, "no data found")
    return out


def _load_voc(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    sets = path / "ImageSets" / "Main"
    names = named or lone_test_as_val(
        {s: f"ImageSets/Main/{s}.txt" for s in SPLIT_NAMES if (sets / f"{s}.txt").is_file()}
    )
    if not names:
        ds = read_voc(path, out.issues, classes, None, check_images)
        if ds is not None:
            out.splits["all"] = ds
    for split, rel in names.items():
        if not (path / rel).is_file():
            out.issues.error(path / rel, "image set file not found")
            continue
        stems = (path / rel).read_text().split()
        ds = read_voc(path, out.issues, classes, stems, check_images)
        if ds is not None:
            out.splits[split] = ds


def _yolo_layout(path: Path, out: LoadedData, classes: list[str] | None) -> YoloLayout | None:
    """The layout of a YOLO folder or ``data.yaml``; a folder without one needs class names."""
    yaml_path = path if path.is_file() else find_yolo_yaml(path)
    if yaml_path is not None:
        layout = read_yolo_yaml(yaml_path, out.issues)
        if layout is not None and classes is not None:
            layout.names = classes
        return layout
    if classes is None and (path / "classes.txt").is_file():
        classes = read_classes_file(path / "classes.txt")
    images = path / "images"
    folders = sorted(p for p in images.iterdir() if p.is_dir()) if images.is_dir() else []
    splits = {split_name(p.name): [p] for p in folders}
    splits.pop("all", None)
    return YoloLayout(path, classes, lone_test_as_val(splits) or {"all": [images]})


def _load_yolo(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    layout = _yolo_layout(path, out, classes)
    if layout is None:
        return
    if layout.names is None:
        out.issues.error(
            path,
            "no class names: write a data.yaml with 'names' (or a classes.txt), or pass --classes",
        )
        return
    splits = (
        {k: [layout.root / v] for k, v in named.items()}
        if named
        else lone_test_as_val(layout.splits)
    )
    for split, sources in splits.items():
        name = f"{layout.root.name}:{split}"
        out.splits[split] = read_yolo_split(
            sources, layout.names, layout.root, out.issues, check_images, name
        )


def _load_cvat(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    if named:
        for split, rel in named.items():
            xml = path / rel
            if not xml.is_file():
                out.issues.error(xml, "annotation file not found")
                continue
            found = list(read_cvat(xml, out.issues, classes, check_images).values())
            if found:  # a file named as one split is that split, whatever its subsets say
                records = [rec for ds in found for rec in ds.images]
                first = found[0]
                out.splits[split] = Dataset(
                    f"{xml.stem}:{split}",
                    "cvat",
                    xml.parent,
                    first.classes,
                    first.num_things,
                    records,
                )
        return
    found_xml = path if path.is_file() else find_cvat_xml(path)
    if found_xml is None:
        out.issues.error(path, "no CVAT annotations.xml found")
        return
    out.splits.update(lone_test_as_val(read_cvat(found_xml, out.issues, classes, check_images)))


def _load_labelme(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    check_images: bool,
) -> None:
    root = path.parent if path.is_file() else path
    if classes is None and (root / "labels.txt").is_file():
        classes = read_labels_txt(root / "labels.txt")
    if named:
        splits = {}
        for split, rel in named.items():
            folder = path / rel
            files = labelme_jsons(folder) if folder.is_dir() else []
            if not files:
                out.issues.error(folder, "no LabelMe json files found")
                continue
            splits[split] = files
    elif path.is_file():
        splits = {"all": [path]}
    else:
        splits = labelme_splits(path)
    if splits:
        out.splits.update(read_labelme(splits, out.issues, classes, check_images, root))


def _load_masks(
    path: Path,
    out: LoadedData,
    named: dict[str, str],
    classes: list[str] | None,
    ignore_index: int,
    check_images: bool,
) -> None:
    pairs: dict[str, tuple[Path, Path]] = {}
    if named:
        for split, rel in named.items():
            img = path / rel
            lbl = path / f"{rel}annot"
            found = find_mask_dirs(img) if img.is_dir() and not lbl.is_dir() else (img, lbl)
            if found is None:
                out.issues.error(img, "no image/label folder pair found")
                continue
            pairs[split] = found
    else:
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            if (path / f"{folder.name}annot").is_dir():
                pairs[split_name(folder.name)] = (folder, path / f"{folder.name}annot")
        pairs = lone_test_as_val(pairs)
        if not pairs:
            found = find_mask_dirs(path)
            if found is None:
                out.issues.error(path, "no image/label folder pair found")
                return
            pairs["all"] = found
    for split, (img_dir, lbl_dir) in pairs.items():
        ds = read_mask_folder(img_dir, lbl_dir, classes, ignore_index, out.issues, check_images)
        if ds is not None:
            out.splits[split] = ds
