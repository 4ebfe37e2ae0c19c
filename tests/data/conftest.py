"""Fixtures of the data tests: OpenMMLab's own dataset classes over the files benchsel writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _build_dataset(cfg: dict[str, Any], scope: str, pipeline: list[dict[str, Any]]) -> Any:
    from mmengine.registry import DefaultScope

    cfg = {**cfg, "pipeline": pipeline, "serialize_data": False}
    if scope == "mmdet":
        from mmdet.registry import DATASETS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import DATASETS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return DATASETS.build(cfg)


@pytest.fixture
def build_mm_dataset() -> Callable[[dict[str, Any], str, list[dict[str, Any]]], Any]:
    """``build_mm_dataset(dataset_cfg, "mmdet" | "mmseg", pipeline)``: the package's dataset."""
    return _build_dataset
