"""Ultralytics YOLO folders: known values, layouts, and each broken case named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchsel.data import detect_format, load_data
from benchsel.data.stats import dataset_stats
from benchsel.data.yolo import label_path


def _folder(
    root: Path, labels: dict[str, str | None], yaml: str = "train: images/train\nnames: [a, b]\n"
):
    """A YOLO folder of 40x30 images ``images/train/<stem>.png``, with the given label files."""
    for stem, text in labels.items():
        (root / "images/train").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (90, 90, 90)).save(root / f"images/train/{stem}.png")
        if text is not None:
            (root / "labels/train").mkdir(parents=True, exist_ok=True)
            (root / f"labels/train/{stem}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml)
    return root


def test_box_and_polygon_rows_in_pixels(tmp_path):
    _folder(tmp_path, {"x": "1 0.5 0.5 0.25 0.5\n0 0.1 0.1 0.9 0.1 0.5 0.9\n"})
    loaded = load_data(tmp_path)
    assert loaded.ok and not loaded.issues.items, [str(i) for i in loaded.issues.items]
    box, poly = loaded.splits["train"].images[0].instances
    assert (box.label, box.box, box.area, box.segmentation) == (
        1,
        (15.0, 7.5, 25.0, 22.5),
        150.0,
        None,
    )
    assert poly.label == 0 and poly.box == pytest.approx((4, 3, 36, 27))
    assert poly.segmentation == [pytest.approx([4, 3, 36, 3, 20, 27])]
    assert poly.area == pytest.approx(32 * 24 / 2)


def test_label_path_mirrors_the_last_images_folder():
    assert label_path(Path("d/images/train/a/x.jpg")) == Path("d/labels/train/a/x.txt")
    assert label_path(Path("d/train/images/x.jpeg")) == Path("d/train/labels/x.txt")
    assert label_path(Path("images/x.png")) == Path("labels/x.txt")
    assert label_path(Path("flat/x.png")) == Path("flat/x.txt")  # Darknet: beside the image


def test_names_as_an_index_map_and_roboflow_relative_paths(tmp_path):
    root = tmp_path / "export"
    for split in ("train", "valid"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        Image.new("RGB", (40, 30)).save(root / split / "images" / "x_jpg.rf.1.png")
        (root / split / "labels" / "x_jpg.rf.1.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    # Roboflow writes paths relative to a folder above the export; Ultralytics retries without ../
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\nnc: 2\nnames: {0: cat, 1: dog}\n"
    )
    assert detect_format(root) == "yolo"
    loaded = load_data(root)
    assert loaded.ok, [str(i) for i in loaded.issues.items]
    assert set(loaded.splits) == {"train", "val"}
    assert loaded.splits["val"].thing_classes == ["cat", "dog"]


def test_image_list_files_and_explicit_test_split(tmp_path):
    _folder(tmp_path, {"x": "0 0.5 0.5 0.5 0.5\n", "y": "1 0.5 0.5 0.5 0.5\n"})
    (tmp_path / "train.txt").write_text("./images/train/x.png\n")
    (tmp_path / "holdout.txt").write_text("./images/train/y.png\n")
    (tmp_path / "data.yaml").write_text("train: train.txt\nval: train.txt\nnames: [a, b]\n")
    loaded = load_data(tmp_path, train="train.txt", test="holdout.txt")
    assert set(loaded.splits) == {"train", "test"}
    assert [im.file.name for im in loaded.splits["test"].images] == ["y.png"]


def test_test_split_beside_val_is_its_own(tmp_path):
    _folder(tmp_path, {"x": "0 0.5 0.5 0.5 0.5\n"})
    yaml = "train: images/train\nval: images/train\ntest: images/train\nnames: [a, b]\n"
    (tmp_path / "data.yaml").write_text(yaml)
    assert set(load_data(tmp_path).splits) == {"train", "val", "test"}
    (tmp_path / "data.yaml").write_text("train: images/train\ntest: images/train\nnames: [a, b]\n")
    assert set(load_data(tmp_path).splits) == {"train", "val"}  # a lone test serves as val


def test_missing_label_file_is_an_image_without_objects(tmp_path):
    labels = {"x": "0 0.5 0.5 0.5 0.5\n", "y": None, "z": None}
    _folder(tmp_path, labels, yaml="train: images/train\nnames: [a]\n")
    loaded = load_data(tmp_path)
    assert loaded.ok
    (note,) = loaded.issues.warnings
    assert "2 of 3 images have no label file" in note.message
    stats = dataset_stats(loaded.splits["train"])
    assert stats["images"] == 3 and stats["instances"] == 1
    assert stats["images_without_objects"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0.5 0.5 0.2 0.2\n0 0.5 abc 0.2 0.2\n", "line 2: expected numbers, got '0 0.5 abc"),
        ("0 0.5 0.5 0.2\n", "line 1: expected 'class cx cy w h' or a polygon"),
        ("\n2 0.5 0.5 0.2 0.2\n", "line 2: class index 2 is out of range (names has 2 classes)"),
        ("0.5 0.5 0.5 0.2 0.2\n", "line 1: class index must be an integer"),
        ("0 20 15 8 6\n", "line 1: coordinates must be normalised to 0-1"),
    ],
)
def test_bad_rows_are_errors_naming_file_and_line(tmp_path, text, message):
    _folder(tmp_path, {"x": text})
    loaded = load_data(tmp_path)
    (err,) = loaded.issues.errors
    assert message in err.message
    assert err.file == str(tmp_path / "labels/train/x.txt")


def test_boxes_outside_the_image_are_clipped_or_dropped(tmp_path):
    _folder(tmp_path, {"x": "1 0.95 0.5 0.2 0.2\n0 1.3 0.5 0.2 0.2\n"})
    loaded = load_data(tmp_path)
    assert loaded.ok
    (inst,) = loaded.splits["train"].images[0].instances
    assert inst.box == pytest.approx((34, 12, 40, 18))
    msgs = [str(w) for w in loaded.issues.warnings]
    assert any("line 1" in m and "extends outside the 40x30 image (clipped)" in m for m in msgs)
    assert any("line 2" in m and "lies outside the 40x30 image (dropped)" in m for m in msgs)


def test_missing_images_are_errors(tmp_path):
    _folder(tmp_path, {"x": "0 0.5 0.5 0.5 0.5\n"})
    (tmp_path / "labels/train/gone.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "list.txt").write_text("./images/train/x.png\n./images/train/lost.png\n")
    (tmp_path / "data.yaml").write_text("train: images/train\nval: list.txt\nnames: [a, b]\n")
    errors = [str(e) for e in load_data(tmp_path).issues.errors]
    assert any("gone.txt" in e and "label file has no image" in e for e in errors)
    assert any("list.txt" in e and "line 2: image file is missing" in e for e in errors)


def test_broken_yaml_and_names(tmp_path):
    _folder(tmp_path, {"x": "0 0.5 0.5 0.5 0.5\n"}, yaml="train: images/train\nnames: [a, b\n")
    (err,) = load_data(tmp_path).issues.errors
    assert err.file.endswith("data.yaml") and "not valid YAML at line" in err.message
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: {0: a, 2: b}\n")
    assert "without gaps" in str(load_data(tmp_path).issues.errors[0])


def test_folder_without_yaml_takes_classes_txt(tmp_path):
    _folder(tmp_path, {"x": "1 0.5 0.5 0.5 0.5\n"})
    (tmp_path / "data.yaml").unlink()
    assert detect_format(tmp_path) == "yolo"
    assert "no class names" in str(load_data(tmp_path).issues.errors[0])
    (tmp_path / "classes.txt").write_text("a\nb\n")
    loaded = load_data(tmp_path)
    assert loaded.ok and loaded.splits["train"].thing_classes == ["a", "b"]
