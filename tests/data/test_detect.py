"""Format detection: a broken annotation file is reported as such, not as an unknown format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _coco(n_images: int = 3, classes: tuple[str, ...] = ("cat", "dog")) -> dict:
    images = [{"id": i, "file_name": f"{i}.png", "width": 32, "height": 24} for i in range(1, 4)]
    anns = [
        {"id": 10 + i, "image_id": i, "category_id": 1 + i % len(classes), "bbox": [2, 2, 9, 9]}
        for i in range(1, n_images + 1)
    ]
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(classes)]
    return {"images": images[:n_images], "annotations": anns, "categories": cats}


def _dataset(root: Path, ann: str, image_folder: str, text: str) -> Path:
    """``root`` with ``text`` at ``ann`` and the images of ``_coco()`` in ``image_folder``."""
    (root / image_folder).mkdir(parents=True)
    for i in range(1, 4):
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / image_folder / f"{i}.png")
    (root / ann).parent.mkdir(parents=True, exist_ok=True)
    (root / ann).write_text(text)
    return root / ann


def _truncated(data: dict) -> str:
    """The json of ``data`` cut inside its images list, before the other keys appear."""
    text = json.dumps(data, indent=1)
    return text[: text.index('"width"', text.index('"id": 2'))]


def _decode_error(text: str) -> str:
    with pytest.raises(json.JSONDecodeError) as exc:
        json.loads(text)
    return f"not valid json at line {exc.value.lineno}, column {exc.value.colno}: {exc.value.msg}"


@pytest.mark.parametrize(
    ("ann", "fmt"),
    [
        ("annotations/instances_val2017.json", "coco"),
        ("annotations/panoptic_val2017.json", "coco_panoptic"),
    ],
)
def test_truncated_json_in_the_standard_layout(tmp_path, benchsel, ann, fmt):
    text = _truncated(_coco())
    path = _dataset(tmp_path, ann, "val2017", text)
    expected = _decode_error(text)
    assert "line 1," not in expected  # the indented json makes the line number meaningful

    result = benchsel("data", "check", str(tmp_path))
    assert result.code == 1
    assert f"format {fmt}" in result.output
    assert f"error: {path}: {expected}" in result.output
    assert "cannot tell the format" not in result.output and "--format" not in result.output

    report = benchsel("data", "check", str(tmp_path), "--json").report()
    assert report["format"] == fmt
    assert [(e["file"], e["message"]) for e in report["errors"]] == [(str(path), expected)]


def test_broken_json_beside_an_image_folder(tmp_path, benchsel):
    text = _truncated(_coco())
    path = _dataset(tmp_path, "train.json", "images", text)
    result = benchsel("data", "check", str(tmp_path))
    assert result.code == 1
    assert f"error: {path}: {_decode_error(text)}" in result.output


def test_unknown_format_names_the_json_that_does_not_parse(tmp_path, benchsel):
    (tmp_path / "notes.json").write_text('{"a": 1,\n "b": }')
    result = benchsel("data", "check", str(tmp_path))
    assert result.code == 1
    assert "cannot tell the format" in result.output and "Pass --format" in result.output
    assert f"{tmp_path / 'notes.json'}: not valid json at line 2, column 7" in result.output


def test_coco_download_reads_instances_not_captions_or_keypoints(tmp_path, benchsel):
    _dataset(tmp_path, "annotations/instances_val2017.json", "val2017", json.dumps(_coco()))
    captions = _coco()
    del captions["categories"]
    captions["annotations"] = [{"id": 1, "image_id": 1, "caption": "a cat"}]
    (tmp_path / "annotations/captions_val2017.json").write_text(json.dumps(captions))
    keypoints = json.dumps(_coco(n_images=1, classes=("person",)))
    (tmp_path / "annotations/person_keypoints_val2017.json").write_text(keypoints)

    result = benchsel("data", "check", str(tmp_path), "--json")
    report = result.report()
    assert result.code == 0, report["errors"]
    assert list(report["stats"]) == ["val"]
    assert report["stats"]["val"]["images"] == 3
    assert report["stats"]["val"]["instances_per_class"] == {"cat": 1, "dog": 2}


@pytest.mark.parametrize("meta", ['{"source": "camera 3"}', '{"source": '])
def test_json_that_is_not_coco_leaves_a_mask_folder_alone(tmp_path, benchsel, meta):
    for folder in ("images", "labels"):
        (tmp_path / folder).mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images/a.png")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(tmp_path / "labels/a.png")
    (tmp_path / "meta.json").write_text(meta)
    result = benchsel("data", "check", str(tmp_path), "--classes", "bg,fg", "--json")
    assert result.code == 0, result.output
    assert result.report()["format"] == "mask_folder"
