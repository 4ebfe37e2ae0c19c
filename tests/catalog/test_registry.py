from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from benchsel.catalog import load_catalog
from benchsel.errors import CatalogError

REQUIRED_IDS = {
    "yolov3-d53-320",
    "yolox-tiny",
    "yolox-s",
    "rtmdet-tiny",
    "rtmdet-s",
    "rtmdet-ins-tiny",
    "ssd300",
    "ssdlite-mobilenetv2",
    "retinanet-r50",
    "dino-4scale-r50",
    "dino-5scale-swin-l",
    "mask-rcnn-r50",
    "mask2former-r50",
    "mask2former-r50-panoptic",
    "panoptic-fpn-r50",
    "unet-s5-d16",
    "fcn-r50",
    "deeplabv3plus-r50",
    "mask2former-r50-semantic",
    # mmyolo (the benchsel[yolo] extra)
    "yolov5-s",
    "yolov6-s",
    "yolov7-tiny",
    "yolov8-n",
    "yolov8-s",
    "yolov8-m",
}
FAMILIES = {
    "yolo",
    "ssd",
    "retinanet",
    "dino",
    "mask_rcnn",
    "mask2former",
    "unet",
    "panoptic_fpn",
    "fcn",
    "deeplabv3plus",
}
CATALOG = load_catalog()


def test_required_ids_and_families_present():
    assert set(CATALOG.ids()) >= REQUIRED_IDS
    assert {a.family for a in CATALOG.architectures} == FAMILIES


@pytest.mark.parametrize("arch", CATALOG.architectures, ids=lambda a: a.id)
def test_config_ships_with_package(arch):
    path = arch.config_path()
    assert path.is_file() and path.suffix == ".py"


def _metafile_model(source: str) -> dict:
    rel, name = source.split("#")
    package, rest = rel.split("/", 1)
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    metafile = Path(spec.origin).parent / rest
    models = yaml.safe_load(metafile.read_text())["Models"]
    return next(m for m in models if m["Name"] == name)


_METRIC_NAMES = {"box AP": "bbox_AP", "mask AP": "segm_AP", "PQ": "PQ", "mIoU": "mIoU"}


@pytest.mark.parametrize("arch", CATALOG.architectures, ids=lambda a: a.id)
def test_reference_numbers_match_bundled_metafile(arch):
    model = _metafile_model(arch.reference.source)
    assert model["Config"].endswith(arch.config), "reference is for another config"
    results = model["Results"]
    results = results if isinstance(results, list) else [results]
    published = {
        _METRIC_NAMES[k]: v for r in results for k, v in r["Metrics"].items() if k in _METRIC_NAMES
    }
    assert arch.reference.metrics == published
    assert arch.reference.weights == model.get("Weights")
    metadata = model.get("Metadata") or {}
    memory = metadata.get("Training Memory (GB)", metadata.get("Memory (GB)"))
    assert arch.reference.train_memory_gb == memory


@pytest.mark.parametrize("arch", CATALOG.architectures, ids=lambda a: a.id)
def test_reference_comes_from_the_entrys_own_package(arch):
    """mmdet entries cite mmdet's metafiles, mmyolo entries mmyolo's (inside its wheel), ..."""
    assert arch.reference.source.startswith(f"{arch.package}/.mim/configs/")


def test_unknown_id_suggests_closest():
    with pytest.raises(CatalogError, match="Did you mean: rtmdet-tiny"):
        CATALOG.get("rtmdet-tiyn")


def test_yolov5_to_v8_come_from_mmyolo():
    for arch_id in ("yolov5-s", "yolov6-s", "yolov7-tiny", "yolov8-n", "yolov8-s", "yolov8-m"):
        arch = CATALOG.get(arch_id)
        assert (arch.package, arch.family) == ("mmyolo", "yolo")
    assert not CATALOG.unavailable


def test_unavailable_ids_explain_why(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "schema_version: 1\narchitectures: []\n"
        "unavailable:\n  - {ids: [yolov9-c], family: yolo, reason: not in mmyolo 0.6.0}\n"
    )
    with pytest.raises(CatalogError, match=r"yolov9-c is not available: not in mmyolo 0\.6\.0"):
        load_catalog(path).get("yolov9-c")


def test_missing_mmyolo_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "mmyolo" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(CatalogError, match=r"needs mmyolo, which is not installed; .*\[yolo\]"):
        CATALOG.get("yolov8-n").config_path()


def test_select_by_task_and_pattern():
    assert {a.id for a in CATALOG.select(task="panoptic")} == {
        "mask2former-r50-panoptic",
        "panoptic-fpn-r50",
    }
    assert [a.id for a in CATALOG.select("rtmdet*")] == [
        "rtmdet-tiny",
        "rtmdet-s",
        "rtmdet-ins-tiny",
    ]


def test_output_task_is_what_the_model_predicts():
    expected = {
        "mask2former-r50-panoptic": "panoptic",
        "panoptic-fpn-r50": "panoptic",
        "mask-rcnn-r50": "instance",
        "rtmdet-tiny": "detection",
        "unet-s5-d16": "semantic",
        "deeplabv3plus-r50": "semantic",
        "mask2former-r50-semantic": "semantic",
    }
    known = {a.id for a in CATALOG.select()}
    assert set(expected) <= known, set(expected) - known
    assert {arch_id: CATALOG.get(arch_id).output_task for arch_id in expected} == expected


def test_unknown_variant_lists_known_ones():
    with pytest.raises(CatalogError, match="r18-light"):
        CATALOG.get("mask-rcnn-r50").variant("r34")


def test_broken_catalog_file_is_reported(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("schema_version: 1\narchitectures:\n  - id: x\n")
    with pytest.raises(CatalogError, match="invalid catalog"):
        load_catalog(bad)
