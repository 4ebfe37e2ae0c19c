"""Round trips through every format, and the real data beside the project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from benchsel.data import detect_format, load_data
from benchsel.data.coco_panoptic import read_segment_png
from benchsel.data.masks import read_label_png
from benchsel.data.sample import CLASSES, THINGS, generate_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return root, generate_sample(root, images=24, size=96, seed=3)


def _boxes(ds):
    return {
        im.file.name: sorted((i.label, *np.round(i.box, 3)) for i in im.instances)
        for im in ds.images
    }


def test_sample_is_deterministic(tmp_path):
    a = generate_sample(tmp_path / "a", images=6, size=64, seed=1)
    b = generate_sample(tmp_path / "b", images=6, size=64, seed=1)
    c = generate_sample(tmp_path / "c", images=6, size=64, seed=2)
    assert _boxes(a) == _boxes(b) != _boxes(c)
    for name in ("000000.png", "000005.png"):
        assert (tmp_path / "a/images" / name).read_bytes() == (
            tmp_path / "b/images" / name
        ).read_bytes()


def test_sample_has_every_kind_of_content(sample):
    _, ds = sample
    labels = {i.label for im in ds.images for i in im.instances}
    assert labels == set(range(len(THINGS)))
    stuff = {s.label for im in ds.images for s in im.segments if s.label >= len(THINGS)}
    assert stuff == set(range(len(THINGS), len(CLASSES)))
    areas = [i.area for im in ds.images for i in im.instances]
    assert min(areas) < 32**2 <= max(areas), "objects should span size buckets"


@pytest.mark.parametrize("fmt", ["coco", "coco_panoptic", "voc"])
def test_instance_formats_round_trip_boxes(sample, fmt):
    root, ds = sample
    loaded = load_data(root, fmt)
    assert loaded.ok, [str(i) for i in loaded.issues.items]
    back = loaded.splits["all"]
    assert back.thing_classes == list(THINGS)
    assert _boxes(back) == _boxes(ds)


def test_coco_polygons_match_panoptic_masks(sample):
    root, _ = sample
    coco = load_data(root, "coco").splits["all"]
    pan = load_data(root, "coco_panoptic").splits["all"]
    by_name = {im.file.name: im for im in pan.images}
    for im in coco.images:
        other = by_name[im.file.name]
        for a, b in zip(
            sorted(im.instances, key=lambda i: i.box),
            sorted(other.instances, key=lambda i: i.box),
            strict=True,
        ):
            rle_a = mask_utils.merge(mask_utils.frPyObjects(a.segmentation, im.height, im.width))
            iou = mask_utils.iou([rle_a], [b.segmentation], [0])[0][0]
            assert a.label == b.label and iou > 0.75


def test_semantic_masks_agree_with_panoptic(sample):
    root, _ = sample
    masks = load_data(root, "mask_folder").splits["all"]
    assert masks.classes == list(CLASSES)
    pan = {im.file.name: im for im in load_data(root, "coco_panoptic").splits["all"].images}
    for im in masks.images[:8]:
        sem = read_label_png(im.semantic_file)
        p = pan[im.file.name]
        ids = read_segment_png(p.panoptic_file)
        expected = np.full(ids.shape, -1)
        for seg in p.segments:
            expected[ids == seg.id] = seg.label
        covered = expected >= 0
        assert np.array_equal(sem[covered], expected[covered])


def test_auto_detects_richest_format(sample):
    root, _ = sample
    assert detect_format(root) == "coco_panoptic"


def test_seeded_split_and_nested_fractions(sample):
    _, ds = sample
    train, val = ds.split(0.25, seed=0)
    assert len(val.images) == 6 and len(train.images) == 18
    assert not {i.id for i in train.images} & {i.id for i in val.images}
    assert [i.id for i in ds.split(0.25, seed=0)[1].images] == [i.id for i in val.images]
    quarter, half = train.fraction(0.25, 0), train.fraction(0.5, 0)
    assert {i.id for i in quarter.images} <= {i.id for i in half.images}


# Real data beside the project (skipped when ../shared/data is absent).


def test_real_coco_tiny_counts(coco_tiny):
    loaded = load_data(coco_tiny)
    assert loaded.ok
    train, val = loaded.splits["train"], loaded.splits["val"]
    assert (len(train.images), len(val.images)) == (80, 80)
    assert sum(len(i.instances) for i in train.images) == 705
    assert sum(len(i.instances) for i in val.images) == 815
    crowd = [i for im in train.images for i in im.instances if i.iscrowd]
    assert len(crowd) == 6 and all(isinstance(c.segmentation, dict) for c in crowd)
    assert sum(i.iscrowd for im in val.images for i in im.instances) == 11
    assert len(train.classes) == 80


def test_real_camvid_loads_with_void_ignored(camvid_val):
    names = "Sky,Building,Pole,Road,Pavement,Tree,SignSymbol,Fence,Car,Pedestrian,Bicyclist"
    loaded = load_data(camvid_val, classes=names.split(","), ignore_index=11)
    assert loaded.ok, [str(i) for i in loaded.issues.errors]
    val = loaded.splits["val"]
    assert len(val.images) == 101
    assert (val.images[0].width, val.images[0].height) == (480, 360)


def test_real_panoptic_sample_segments(panoptic_sample):
    loaded = load_data(panoptic_sample / "panoptic_examples.json")
    assert loaded.ok
    ds = loaded.splits["all"]
    assert sorted(len(im.segments) for im in ds.images) == [18, 32]
    assert len(ds.classes) == 133 and ds.num_things == 80
    assert all(im.file.is_file() for im in ds.images)


def test_detect_format_errors_clearly(tmp_path):
    from benchsel.errors import DataError

    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        detect_format(tmp_path / "nope")


def test_nothing_is_written_by_loading(sample):
    root, _ = sample
    before = sorted(p for p in Path(root).rglob("*"))
    for fmt in ("coco", "coco_panoptic", "mask_folder", "voc"):
        load_data(root, fmt)
    assert sorted(p for p in Path(root).rglob("*")) == before
