"""The files written for OpenMMLab load in mmdet's and mmseg's own dataset classes."""

from __future__ import annotations

import numpy as np
import pytest

from benchsel.data import load_data
from benchsel.data.openmmlab import write_split
from benchsel.data.sample import generate_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    generate_sample(root, images=6, size=64, seed=0)
    return root, load_data(root, "coco_panoptic").splits["all"]


def test_instances_load_in_mmdet_with_polygon_masks(sample, tmp_path, build_mm_dataset):
    _, ds = sample
    split = write_split(ds, "instance", tmp_path, "train", for_training=True)
    pipeline = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations", "with_bbox": True, "with_mask": True, "poly2mask": False},
    ]
    mm = build_mm_dataset(split.dataset_cfg, "mmdet", pipeline)
    assert len(mm) == 6
    item = mm[0]
    n = len(ds.images[0].instances)
    assert item["gt_bboxes"].shape[0] == n and len(item["gt_masks"]) == n
    assert not item["gt_ignore_flags"].any()  # RLE became polygons, none ignored


def test_panoptic_loads_in_mmdet_with_masks_and_segmentation(sample, tmp_path, build_mm_dataset):
    _, ds = sample
    split = write_split(ds, "panoptic", tmp_path, "train", for_training=True)
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "LoadPanopticAnnotations"}]
    mm = build_mm_dataset(split.dataset_cfg, "mmdet", pipeline)
    item = mm[0]
    things = [s for s in ds.images[0].segments if s.label < ds.num_things]
    assert len(item["gt_masks"]) == len(things)
    assert item["gt_seg_map"].shape == (64, 64)
    labels = set(np.unique(item["gt_seg_map"]).tolist()) - {255}
    assert labels <= set(range(len(ds.classes)))


def test_semantic_loads_in_mmseg(sample, tmp_path, build_mm_dataset):
    _, ds = sample
    split = write_split(ds, "semantic", tmp_path, "val", for_training=False)
    pipeline = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations"}]
    mm = build_mm_dataset(split.dataset_cfg, "mmseg", pipeline)
    assert len(mm) == 6
    seg = mm[0]["gt_seg_map"]
    assert seg.shape == (64, 64) and seg.max() < len(ds.classes)
