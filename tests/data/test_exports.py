"""The exports users bring (Ultralytics YOLO, CVAT for images 1.1, LabelMe, Roboflow COCO): the
generated sample written each way must read back as the COCO reader reads it, auto-detected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from benchsel.data import detect_format, load_data
from benchsel.data.sample import THINGS, generate_sample
from benchsel.data.shapes import polygons_box
from benchsel.data.stats import dataset_stats
from benchsel.data.types import Dataset
from tests.data.exports import (
    PROJECT,
    split_of,
    write_cvat,
    write_labelme,
    write_roboflow,
    write_yolo,
)

IMAGES = 12


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Dataset:
    """The sample as the COCO reader reads it (the oracle of every other reader)."""
    root = tmp_path_factory.mktemp("sample")
    generate_sample(root, images=IMAGES, size=96, seed=5)
    loaded = load_data(root, "coco")
    assert loaded.ok
    return loaded.splits["all"]


def _objects(ds: Dataset, shape: str, first_polygon: bool = True) -> dict[str, list]:
    """Image stem -> sorted (label, box, polygons) rounded to 0.01 px.

    ``shape`` "polygon": the box is the polygons' bounds (what a polygon-only format can say).
    """
    out = {}
    for im in ds.images:
        objs = []
        for inst in im.instances:
            polys = None
            box = inst.box
            if shape == "polygon":
                polys = inst.segmentation[:1] if first_polygon else inst.segmentation
                box = polygons_box(polys)
                polys = [tuple(np.round(p, 2)) for p in polys]
            objs.append((inst.label, tuple(np.round(box, 2)), polys))
        out[im.file.name.split("_png.rf.")[0].removesuffix(".png")] = sorted(objs, key=repr)
    return out


def _by_split(reference: Dataset) -> dict[str, set[str]]:
    splits: dict[str, set[str]] = {}
    for k, im in enumerate(reference.images):
        splits.setdefault(split_of(k, len(reference.images)), set()).add(im.file.stem)
    return splits


WRITERS: dict[str, tuple[str, Callable[..., None], str, bool]] = {
    # case: (format, writer, shape, first polygon only)
    "yolo-detect": ("yolo", write_yolo, "box", True),
    "yolo-segment": ("yolo", write_yolo, "polygon", True),
    "cvat-box": ("cvat", write_cvat, "box", True),
    "cvat-polygon": ("cvat", write_cvat, "polygon", True),
    "labelme-rectangle": ("labelme", write_labelme, "box", True),
    "labelme-polygon": ("labelme", write_labelme, "polygon", False),
}


@pytest.mark.parametrize("case", sorted(WRITERS))
def test_export_reads_as_coco_does(reference, tmp_path, case):
    fmt, write, shape, first = WRITERS[case]
    write(reference, tmp_path, shape)
    assert detect_format(tmp_path) == fmt
    loaded = load_data(tmp_path)
    assert loaded.format == fmt
    assert not loaded.issues.items, [str(i) for i in loaded.issues.items]
    assert set(loaded.splits) == {"train", "val", "test"}
    want = _objects(reference, shape, first)
    for split, stems in _by_split(reference).items():
        ds = loaded.splits[split]
        assert ds.thing_classes == list(THINGS)
        assert {im.file.stem for im in ds.images} == stems
        got = _objects(ds, shape, first)
        assert got == {s: want[s] for s in stems}
        assert dataset_stats(ds)["instances"] == sum(len(want[s]) for s in stems)


def test_roboflow_export_drops_its_project_category(reference, tmp_path):
    write_roboflow(reference, tmp_path)
    assert detect_format(tmp_path) == "coco"
    loaded = load_data(tmp_path)
    assert not loaded.issues.errors, [str(i) for i in loaded.issues.errors]
    assert set(loaded.splits) == {"train", "val", "test"}
    phantom = [w.message for w in loaded.issues.warnings if PROJECT in w.message]
    assert len(phantom) == 3 and "dropped" in phantom[0], loaded.issues.warnings
    want = _objects(reference, "polygon", first_polygon=False)
    for split, stems in _by_split(reference).items():
        ds = loaded.splits[split]
        assert ds.thing_classes == list(THINGS)
        assert ds.category_ids == [1, 2, 3]
        got = _objects(ds, "polygon", first_polygon=False)
        assert got == {s: want[s] for s in stems}


def test_category_in_use_or_not_grouping_every_other_is_kept():
    from benchsel.data.coco import phantom_category

    cats = {0: {"name": "p"}, 1: {"name": "a", "supercategory": "p"}, 2: {"name": "b"}}
    assert phantom_category(cats, []) is None  # b is not under p
    cats[2]["supercategory"] = "p"
    assert phantom_category(cats, [{"category_id": 1}]) == 0
    assert phantom_category(cats, [{"category_id": 0}]) is None  # p has objects: a real class


def test_real_coco_images_as_yolo_and_roboflow(coco_tiny, tmp_path):
    """80 real COCO val2017 photos: every non-crowd box survives YOLO's normalised form."""
    coco = load_data(coco_tiny / "annotations" / "instances_val2017.json", check_images=False)
    ref = coco.splits["all"]
    ref.images = [
        type(im)(im.id, im.file, im.width, im.height, [i for i in im.instances if not i.iscrowd])
        for im in ref.images
    ]
    write_yolo(ref, tmp_path / "yolo", "box")
    loaded = load_data(tmp_path / "yolo", check_images=False)
    assert not loaded.issues.errors, [str(i) for i in loaded.issues.errors[:5]]
    got = {im.file.name: im for ds in loaded.splits.values() for im in ds.images}
    total = 0
    for im in ref.images:
        back = got[im.file.name]
        assert len(back.instances) == len(im.instances)
        a = np.array(sorted(i.box for i in im.instances)).reshape(-1, 4)
        b = np.array(sorted(i.box for i in back.instances)).reshape(-1, 4)
        np.testing.assert_allclose(a, b, atol=0.01)
        total += len(back.instances)
    assert total == 815 - 11


EXPORTS: dict[str, tuple[str, Callable[[Dataset, Path], None]]] = {
    "roboflow": ("coco", write_roboflow),
    "yolo": ("yolo", lambda ds, out: write_yolo(ds, out, "polygon")),
    "cvat": ("cvat", lambda ds, out: write_cvat(ds, out, "box")),
    "labelme": ("labelme", lambda ds, out: write_labelme(ds, out, "polygon")),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_data_check_reports_real_classes_and_every_instance(reference, tmp_path, benchsel, name):
    fmt, write = EXPORTS[name]
    write(reference, tmp_path)
    result = benchsel("data", "check", str(tmp_path), "--json")
    assert result.code == 0, result.output
    report = result.report()
    assert report["format"] == fmt and not report["errors"]
    assert set(report["stats"]) == {"train", "val", "test"}
    per_class = [st["instances_per_class"] for st in report["stats"].values()]
    assert all(list(c) == list(THINGS) for c in per_class)
    assert sum(st["instances"] for st in report["stats"].values()) == sum(
        len(im.instances) for im in reference.images
    )
    assert report["stats"]["test"]["images"] == IMAGES // 4


def test_convert_to_coco_reads_back_the_same(reference, tmp_path, benchsel):
    from pycocotools.coco import COCO

    write_yolo(reference, tmp_path / "yolo", "polygon")
    result = benchsel(
        "data", "convert", str(tmp_path / "yolo"), str(tmp_path / "coco"), "--to", "coco"
    )
    assert result.code == 0, result.output
    assert "test   3 images" in result.stdout
    back = load_data(tmp_path / "coco")
    assert back.format == "coco" and back.ok, [str(i) for i in back.issues.items]
    original = load_data(tmp_path / "yolo")
    for split, ds in original.splits.items():
        assert _objects(back.splits[split], "polygon") == _objects(ds, "polygon")
    api = COCO(str(tmp_path / "coco/annotations/instances_train.json"))
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == list(THINGS)
    first = api.loadImgs(api.getImgIds()[:1])[0]
    assert (tmp_path / "coco/train" / first["file_name"]).resolve().is_file()


def test_convert_refuses_data_with_errors(tmp_path, benchsel):
    (tmp_path / "images/train").mkdir(parents=True)
    (tmp_path / "labels/train").mkdir(parents=True)
    (tmp_path / "labels/train/x.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: [a]\n")
    result = benchsel("data", "convert", str(tmp_path), str(tmp_path / "out"))
    assert result.code == 1 and "1 errors; run `benchsel data check" in result.stderr


def _coco_splits(reference: Dataset, root: Path, names: tuple[str, ...]) -> None:
    from benchsel.data.coco import write_coco

    n = len(reference.images)
    for k, name in enumerate(names):
        part = reference.images[k * n // len(names) : (k + 1) * n // len(names)]
        write_coco(reference.subset([im.id for im in part]), root / f"instances_{name}.json")


def test_coco_test_json_beside_val_is_its_own_split(reference, tmp_path):
    _coco_splits(reference, tmp_path / "annotations", ("train", "val", "test"))
    loaded = load_data(tmp_path, check_images=False)
    assert {k: len(v.images) for k, v in loaded.splits.items()} == {"train": 4, "val": 4, "test": 4}
    (tmp_path / "annotations/instances_val.json").unlink()
    loaded = load_data(tmp_path, check_images=False)
    assert set(loaded.splits) == {"train", "val"}  # a lone test json still serves as val
    loaded = load_data(
        tmp_path, train="annotations/instances_train.json", test="annotations/instances_test.json"
    )
    assert set(loaded.splits) == {"train", "test"}
