"""Import mmyolo 0.6.0 (YOLOv5/v6/v7/v8) on the mmcv 2.1.0 that benchsel builds.

mmyolo 0.6.0, its last release, asserts ``mmcv < 2.1.0`` once, in ``mmyolo/__init__.py``, by
reading ``mmcv.__version__``; nothing else in it reads the version. mmcv < 2.1 does not build
against current torch. Upstream's open PRs that raise the bound (open-mmlab/mmyolo#937 and #1053,
issue #922) change nothing but that number. So benchsel imports mmyolo while that one attribute
reads a 2.0.x version and restores it right after; installed files are never edited.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from benchsel.catalog.registry import INSTALL_HINTS
from benchsel.errors import CatalogError

# The newest mmcv release that mmyolo 0.6.0's check accepts (2.0.0rc4 <= v < 2.1.0).
ACCEPTED_MMCV = "2.0.1"


@contextmanager
def mmcv_version_as(version: str) -> Iterator[None]:
    """Let ``mmcv.__version__`` read ``version`` inside the block; the real one is restored on
    exit, also when the block raises."""
    import mmcv

    real = mmcv.__version__
    mmcv.__version__ = version
    try:
        yield
    finally:
        mmcv.__version__ = real


def import_mmyolo() -> ModuleType:
    """``import mmyolo`` past its mmcv upper bound (see the module docstring)."""
    if "mmyolo" in sys.modules:
        return sys.modules["mmyolo"]
    # mmdet (and mmcv) are imported first, outside the block, so that they see the real version.
    import mmdet  # noqa: F401

    try:
        with mmcv_version_as(ACCEPTED_MMCV):
            return importlib.import_module("mmyolo")
    except ModuleNotFoundError as exc:
        if exc.name != "mmyolo":
            raise
        raise CatalogError(f"mmyolo is not installed; {INSTALL_HINTS['mmyolo']}") from exc
