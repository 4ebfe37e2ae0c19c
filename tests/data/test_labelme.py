"""LabelMe folders: known values, groups, class lists, and each broken case named by file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from benchsel.data import detect_format, load_data


def _shape(label: str, kind: str, points: list[list[float]], group: Any = None) -> dict[str, Any]:
    return {"label": label, "points": points, "group_id": group, "shape_type": kind, "flags": {}}


def _json(folder: Path, shapes: list[dict[str, Any]], image: str | None = "a.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30)).save(folder / "a.png")
    doc: dict[str, Any] = {
        "version": "5.4.1",
        "flags": {},
        "shapes": shapes,
        "imagePath": image,
        "imageData": None,
        "imageHeight": 30,
        "imageWidth": 40,
    }
    path = folder / "a.json"
    path.write_text(json.dumps(doc))
    return path


def test_rectangle_polygon_and_groups_in_pixels(tmp_path):
    _json(
        tmp_path,
        [
            _shape("dog", "rectangle", [[20, 10], [4, 3.5]]),
            _shape("cat", "polygon", [[4, 3], [36, 3], [20, 27]], group=1),
            _shape("cat", "polygon", [[30, 20], [38, 20], [38, 28]], group=1),
            _shape("cat", "circle", [[5, 5], [8, 8]]),
        ],
    )
    assert detect_format(tmp_path) == "labelme"
    loaded = load_data(tmp_path)
    assert loaded.ok
    ds = loaded.splits["all"]
    assert ds.thing_classes == ["cat", "dog"]
    box, cat = ds.images[0].instances
    assert (box.label, box.box, box.segmentation) == (1, (4.0, 3.5, 20.0, 10.0), None)
    assert cat.label == 0 and len(cat.segmentation) == 2  # one object drawn in two parts
    assert cat.box == (4.0, 3.0, 38.0, 28.0) and cat.area == 384 + 32
    assert ["1 LabelMe 'circle' shapes not read" in w.message for w in loaded.issues.warnings] == [
        True
    ]


def test_labels_txt_orders_the_classes_and_rejects_others(tmp_path):
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ndog\ncat\n")
    path = _json(tmp_path, [_shape("cat", "rectangle", [[1, 1], [9, 9]])])
    loaded = load_data(tmp_path)
    assert loaded.splits["all"].thing_classes == ["dog", "cat"]
    assert loaded.splits["all"].images[0].instances[0].label == 1
    path.write_text(path.read_text().replace('"cat"', '"bird"'))
    (err,) = load_data(tmp_path).issues.errors
    assert (
        err.file == str(path) and "shapes[0]: label 'bird' is not in the class list" in err.message
    )


def test_unparsable_json_names_line_and_column(tmp_path):
    path = _json(tmp_path, [])
    path.write_text(path.read_text()[:-5])
    (err,) = load_data(tmp_path, "labelme").issues.errors
    assert err.file == str(path) and "not valid json at line 1, column" in err.message


def test_missing_image_is_an_error_naming_image_path(tmp_path):
    path = _json(tmp_path / "train", [_shape("cat", "rectangle", [[1, 1], [9, 9]])], "x/gone.png")
    (tmp_path / "train" / "a.png").unlink()
    errors = load_data(tmp_path).issues.errors
    assert [e.file for e in errors] == [str(path)]
    assert "image file is missing: imagePath 'x/gone.png'" in errors[0].message


def test_image_named_like_the_json_is_found(tmp_path):
    _json(tmp_path, [_shape("cat", "rectangle", [[1, 1], [9, 9]])], image=None)
    loaded = load_data(tmp_path)
    assert loaded.ok and loaded.splits["all"].images[0].file == tmp_path / "a.png"


def test_bad_points_and_shapes_outside(tmp_path):
    _json(
        tmp_path,
        [
            _shape("cat", "polygon", [[1, 1], [5]]),
            _shape("cat", "polygon", [[30, 20], [50, 20], [50, 40]]),
        ],
    )
    loaded = load_data(tmp_path)
    (err,) = loaded.issues.errors
    assert "shapes[0]: points must be [[x, y], ...]" in err.message
    (inst,) = loaded.splits["all"].images[0].instances
    assert inst.box == (30.0, 20.0, 40.0, 30.0)
    assert any("shapes[1]" in str(w) and "(clipped)" in str(w) for w in loaded.issues.warnings)
