"""`benchsel data check`: one test per documented error and warning, on files the tests make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchsel.data.coco_panoptic import id2rgb


def _coco(tmp_path: Path, n_images: int = 2, **edit) -> Path:
    """A valid 2-image COCO data set; ``edit`` replaces top-level keys of the json."""
    (tmp_path / "images").mkdir(exist_ok=True)
    images, anns = [], []
    for i in range(1, n_images + 1):
        Image.fromarray(np.full((40, 60, 3), 30 * i, np.uint8)).save(tmp_path / f"images/{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": 60, "height": 40})
        anns.append(
            {
                "id": 10 + i,
                "image_id": i,
                "category_id": 1 + (i % 2),
                "bbox": [5, 5, 20, 10],
                "area": 200,
                "iscrowd": 0,
                "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]],
            }
        )
    data = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    data.update(edit)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def check(benchsel):
    """``check(path, *extra)``: exit code and JSON report of ``benchsel data check --json``."""

    def run(path: Path, *extra: str) -> tuple[int, dict]:
        result = benchsel("data", "check", str(path), "--json", *extra)
        return result.code, result.report()

    return run


def _messages(report, kind):
    return [
        f"{m['file']}|{m['image_id']}|{m['annotation_id']}|{m['message']}" for m in report[kind]
    ]


def _only(report, kind, needle):
    hits = [m for m in _messages(report, kind) if needle in m]
    assert hits, f"no {kind} containing {needle!r} in {_messages(report, kind)}"
    return hits[0]


def test_valid_data_set_passes(tmp_path, check):
    code, report = check(_coco(tmp_path))
    assert code == 0 and not report["errors"] and not report["warnings"]
    assert report["stats"]["all"]["images"] == 2
    assert report["stats"]["all"]["instances_per_class"] == {"cat": 1, "dog": 1}


# Errors: exit 1


def test_missing_image_file(tmp_path, check):
    path = _coco(tmp_path)
    (tmp_path / "images/2.png").unlink()
    code, report = check(path)
    assert code == 1
    assert _only(report, "errors", "image file is missing").split("|")[:2] == [
        str(tmp_path / "images/2.png"),
        "2",
    ]


def test_truncated_image(tmp_path, check):
    path = _coco(tmp_path)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)).save(
        tmp_path / "images/1.jpg"
    )
    data = (tmp_path / "images/1.jpg").read_bytes()
    (tmp_path / "images/1.png").write_bytes(data[: len(data) // 2])
    code, report = check(path)
    assert code == 1
    assert "|1|" in _only(report, "errors", "corrupt or truncated image")


def test_garbage_image_is_unreadable(tmp_path, check):
    path = _coco(tmp_path)
    (tmp_path / "images/1.png").write_bytes(b"hello, not an image")
    code, report = check(path)
    assert code == 1
    _only(report, "errors", "corrupt or truncated image")


def test_image_size_disagrees_with_json(tmp_path, check):
    path = _coco(tmp_path)
    Image.fromarray(np.zeros((41, 60, 3), np.uint8)).save(tmp_path / "images/1.png")
    code, report = check(path)
    assert code == 1
    _only(report, "errors", "image is 60x41 but its annotation says 60x40")


def test_json_that_does_not_parse(tmp_path, check):
    path = _coco(tmp_path)
    path.write_text(path.read_text()[:-20])
    code, report = check(path)
    assert code == 1
    assert "not valid json at line 1" in _only(report, "errors", str(path))


def test_unknown_category_id(tmp_path, check):
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 7
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 1
    assert _only(report, "errors", "category id 7 is not in the category list").split("|")[1:3] == [
        "1",
        "11",
    ]


def test_duplicate_image_id(tmp_path, check):
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["images"][1]["id"] = 1
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 1
    _only(report, "errors", "duplicate image id")


def test_duplicate_annotation_id(tmp_path, check):
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][1]["id"] = 11
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 1
    assert "|11|" in _only(report, "errors", "duplicate annotation id")


def test_rle_size_disagrees_with_image(tmp_path, check):
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][0]["segmentation"] = {"size": [10, 10], "counts": [0, 100]}
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 1
    _only(report, "errors", "RLE size [10, 10] disagrees with the image size [40, 60]")


def test_mask_size_differs_from_image(tmp_path, check):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "images/a.png")
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(tmp_path / "labels/a.png")
    code, report = check(tmp_path, "--classes", "bg,fg")
    assert code == 1
    assert str(tmp_path / "labels/a.png") in _only(
        report, "errors", "label map is 32x30 but the image is 32x32"
    )


def test_label_values_above_class_count(tmp_path, check):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "images/a.png")
    lbl = np.zeros((16, 16), np.uint8)
    lbl[0, 0], lbl[1, 1] = 5, 255
    Image.fromarray(lbl).save(tmp_path / "labels/a.png")
    code, report = check(tmp_path, "--classes", "bg,fg")
    assert code == 1
    _only(report, "errors", "label values [5] exceed the 2 classes")


def _panoptic(tmp_path: Path, png_ids: np.ndarray, segments: list[dict]) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "pan").mkdir()
    Image.fromarray(np.zeros((*png_ids.shape, 3), np.uint8)).save(tmp_path / "images/a.png")
    Image.fromarray(id2rgb(png_ids)).save(tmp_path / "pan/a.png")
    path = tmp_path / "pan.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}],
                "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": segments}],
                "categories": [
                    {"id": 1, "name": "car", "isthing": 1},
                    {"id": 2, "name": "road", "isthing": 0},
                ],
            }
        )
    )
    return path


def test_panoptic_png_ids_absent_from_json(tmp_path, check):
    ids = np.zeros((8, 8), np.int64)
    ids[:4] = 5
    ids[4:] = 77
    path = _panoptic(tmp_path, ids, [{"id": 5, "category_id": 2}])
    code, report = check(path)
    assert code == 1
    assert str(tmp_path / "pan/a.png") in _only(report, "errors", "segment ids 77 in the PNG")


def test_panoptic_valid(tmp_path, check):
    ids = np.zeros((8, 8), np.int64)
    ids[:4], ids[4:] = 5, 6
    path = _panoptic(tmp_path, ids, [{"id": 5, "category_id": 2}, {"id": 6, "category_id": 1}])
    code, report = check(path)
    assert code == 0, report["errors"]
    assert report["stats"]["all"]["panoptic_area_share"] == {"things": 0.5, "stuff": 0.5, "void": 0}


# Warnings: exit 0


def _edit_ann(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data["annotations"][0].update(changes)
    path.write_text(json.dumps(data))


def test_box_partly_outside_is_clipped(tmp_path, check):
    path = _coco(tmp_path)
    _edit_ann(path, bbox=[50, 30, 20, 20])
    code, report = check(path)
    assert code == 0
    assert "|1|11|" in _only(report, "warnings", "extends outside the 60x40 image (clipped)")


def test_zero_area_box_is_dropped(tmp_path, check):
    path = _coco(tmp_path)
    _edit_ann(path, bbox=[5, 5, 0, 10])
    code, report = check(path)
    assert code == 0
    _only(report, "warnings", "zero-area box")
    assert report["stats"]["all"]["instances"] == 1


def test_short_polygon_is_dropped(tmp_path, check):
    path = _coco(tmp_path)
    _edit_ann(path, segmentation=[[5, 5, 25, 5]])
    code, report = check(path)
    assert code == 0
    _only(report, "warnings", "polygon with 2 points (< 3) dropped")


def test_image_without_annotations_and_empty_class(tmp_path, check):
    path = _coco(tmp_path, n_images=3)
    data = json.loads(path.read_text())
    data["annotations"] = data["annotations"][:1]
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 0
    assert "|2|" in _only(report, "warnings", "image has no annotations")
    _only(report, "warnings", "class 'cat' has no instances")


def test_string_ids_are_accepted(tmp_path, check):
    path = _coco(tmp_path)
    data = json.loads(path.read_text())
    data["images"][0]["id"] = "1"
    data["annotations"][0]["image_id"] = "1"
    path.write_text(json.dumps(data))
    code, report = check(path)
    assert code == 0
    _only(report, "warnings", "is written as a string (accepted)")
    assert report["stats"]["all"]["instances"] == 2


def test_human_output_and_exit_code(tmp_path, benchsel):
    path = _coco(tmp_path)
    (tmp_path / "images/2.png").unlink()
    result = benchsel("data", "check", str(path))
    assert result.code == 1
    assert "image file is missing" in result.output and "FAILED" in result.output


@pytest.mark.parametrize("task", ["detection", "instance"])
def test_cost_counts_objects(tmp_path, benchsel, task):
    path = _coco(tmp_path)
    result = benchsel("data", "cost", str(path), "--task", task, "--images", "1000", "--json")
    assert result.code == 0, result.output
    cost = result.report()
    assert cost["units"] == 2 and cost["units_per_image"] == 1.0
    price = cost["unit_price_usd"]["typical"]
    assert cost["cost_usd"]["typical"] == pytest.approx(2 * price)
    assert cost["projected_cost_usd"]["typical"] == pytest.approx(1000 * price)


def test_cost_per_image_for_semantic_and_clear_error_for_boxes(tmp_path, benchsel):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for n in "ab":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"images/{n}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / f"labels/{n}.png")
    ok = benchsel("data", "cost", str(tmp_path), "--task", "semantic", "--json")
    assert ok.code == 0, ok.output
    assert ok.report()["cost_usd"] == {"low": 2.0, "typical": 6.0, "high": 10.0}
    bad = benchsel("data", "cost", str(tmp_path), "--task", "detection")
    assert bad.code == 1 and "error: " in bad.stderr and "no object annotations" in bad.stderr
