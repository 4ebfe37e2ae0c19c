"""Semantic mask folders with mixed image and label-map types, read and fed to mmseg."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchsel.data import load_data
from benchsel.data.openmmlab import write_split

CLASSES = ("bg", "road", "car")
IMAGE_TYPES = {"a": ".jpg", "b": ".png", "c": ".bmp", "d": ".tif"}
LABEL_TYPES = {"a": ".png", "b": ".bmp", "c": ".tif", "d": ".PNG"}


def _mask_folder(
    root: Path, images: str = "images", labels: str = "labels", seed: int = 0
) -> dict[str, np.ndarray]:
    """Images and label maps of mixed types under ``root``; returns the label map of each stem."""
    rng = np.random.default_rng(seed)
    (root / images).mkdir(parents=True)
    (root / labels).mkdir()
    maps = {}
    for k, stem in enumerate(IMAGE_TYPES):
        h, w = 16 + 2 * k, 20 + 2 * k
        img = rng.integers(0, 256, (h, w, 3), np.uint8)
        Image.fromarray(img).save(root / images / f"{stem}{IMAGE_TYPES[stem]}")
        lbl = rng.integers(0, len(CLASSES), (h, w)).astype(np.uint8)
        lbl[0] = 255  # ignored
        Image.fromarray(lbl).save(root / labels / f"{stem}{LABEL_TYPES[stem]}")
        maps[stem] = lbl
    return maps


def _pixel_share(maps: dict[str, np.ndarray]) -> dict[str, float]:
    every = np.concatenate([m.ravel() for m in maps.values()])
    share = {c: float(np.mean(every == i)) for i, c in enumerate(CLASSES)}
    return {**share, "(ignored)": float(np.mean(every == 255))}


def test_mixed_types_read(tmp_path, benchsel):
    maps = _mask_folder(tmp_path)
    result = benchsel("data", "check", str(tmp_path), "--classes", ",".join(CLASSES), "--json")
    report = result.report()
    assert result.code == 0, report["errors"]
    assert report["format"] == "mask_folder" and not report["errors"]
    assert report["stats"]["all"]["images"] == 4
    assert report["stats"]["all"]["pixel_share"] == pytest.approx(_pixel_share(maps), abs=1e-5)


def test_jpeg_label_map_is_an_error(tmp_path, benchsel):
    _mask_folder(tmp_path)
    (tmp_path / "labels/b.bmp").rename(tmp_path / "labels/b.jpg")
    result = benchsel("data", "check", str(tmp_path), "--classes", ",".join(CLASSES))
    assert result.code == 1
    assert (
        f"error: {tmp_path / 'labels/b.jpg'}: label map is a JPEG, whose lossy compression "
        "changes label values; save it as PNG"
    ) in result.output
    assert "FAILED: 1 errors" in result.output


def test_two_images_with_one_name_is_an_error(tmp_path, benchsel):
    _mask_folder(tmp_path)
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(tmp_path / "images/a.png")
    result = benchsel("data", "check", str(tmp_path), "--classes", ",".join(CLASSES))
    assert result.code == 1
    assert (
        f"error: {tmp_path / 'images/a.png'}: a.jpg and a.png share the name 'a'; keep one of "
        "them (images and label maps are paired by name)"
    ) in result.output


def _mmseg_items(build_mm_dataset: Callable, split_cfg: dict) -> list[dict]:
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations"}]
    mm = build_mm_dataset(split_cfg, "mmseg", pipeline)
    return [mm[i] for i in range(len(mm))]


def test_mixed_types_load_in_mmseg(tmp_path, build_mm_dataset):
    import cv2

    maps = _mask_folder(tmp_path / "data")
    loaded = load_data(tmp_path / "data", classes=list(CLASSES))
    assert not loaded.issues.errors
    ds = loaded.splits["all"]
    split = write_split(ds, "semantic", tmp_path / "work", "val", for_training=False)
    items = _mmseg_items(build_mm_dataset, split.dataset_cfg)
    assert len(items) == len(ds.images) == 4
    for im, item in zip(ds.images, items, strict=True):
        np.testing.assert_array_equal(item["img"], cv2.imread(str(im.file), cv2.IMREAD_COLOR))
        np.testing.assert_array_equal(item["gt_seg_map"], maps[im.file.stem])


def test_train_and_val_with_the_same_ids_stay_apart(tmp_path, build_mm_dataset):
    """CamVid layout: both splits number their images from 0; neither may replace the other."""
    import cv2

    train = _mask_folder(tmp_path / "data", "train", "trainannot", seed=1)
    val = _mask_folder(tmp_path / "data", "val", "valannot", seed=2)
    loaded = load_data(tmp_path / "data", "mask_folder", classes=list(CLASSES))
    assert not loaded.issues.errors and set(loaded.splits) == {"train", "val"}
    assert [im.id for im in loaded.splits["val"].images] == [0, 1, 2, 3]
    assert [im.id for im in loaded.splits["train"].images] == [0, 1, 2, 3]
    written = {
        name: write_split(loaded.splits[name], "semantic", tmp_path / "work", name, name == "train")
        for name in ("train", "val")
    }
    for name, maps in (("train", train), ("val", val)):
        items = _mmseg_items(build_mm_dataset, written[name].dataset_cfg)
        for im, item in zip(loaded.splits[name].images, items, strict=True):
            np.testing.assert_array_equal(item["img"], cv2.imread(str(im.file), cv2.IMREAD_COLOR))
            np.testing.assert_array_equal(item["gt_seg_map"], maps[im.file.stem])
