"""Model adapters: build a catalog architecture for the user's classes and predict.

OpenMMLab (registries, scopes, configs, data samples) stays behind these modules; callers see
:class:`LoadedModel` and canonical predictions only. Heavy imports happen on first use.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from benchsel.adapters.base import ClassSpec, LoadedModel
from benchsel.adapters.checkpoint import LoadReport, checkpoint_source, load_checkpoint
from benchsel.catalog import Architecture, load_catalog

# albumentations (mmdet's ``Albu`` step, used by mmyolo's YOLOv5/v8 pipelines; imported by mmdet's
# transforms) asks PyPI for a newer version at import unless told not to: nothing benchsel runs
# goes to the network unless the user names a URL.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def build_model(
    arch: Architecture | str,
    classes: ClassSpec,
    *,
    variant: str | None = None,
    input_size: tuple[int, int] | None = None,
    device: str = "cpu",
    checkpoint: str | None = None,
    cache_dir: Path | None = None,
) -> LoadedModel:
    """Build ``arch`` for ``classes``; load ``checkpoint`` (path, URL or ``published``) if given.

    ``input_size`` (height, width) defaults to the variant's, then the catalog entry's.
    Nothing is downloaded unless ``checkpoint`` is a URL or ``published`` (the catalog's weights).
    """
    if isinstance(arch, str):
        arch = load_catalog().get(arch)
    checkpoint = checkpoint_source(checkpoint, arch)
    var = arch.variant(variant)
    size = input_size or (var.input_size if var and var.input_size else None) or arch.input_size
    arch.check_input_size(size)
    _quiet_openmmlab_logs()
    loaded: LoadedModel
    if arch.package in ("mmdet", "mmyolo"):
        from benchsel.adapters.mmdet import MMDetModel

        loaded = MMDetModel(arch, classes, variant, tuple(size), device)  # type: ignore[arg-type]
    else:
        from benchsel.adapters.mmseg import MMSegModel

        loaded = MMSegModel(arch, classes, variant, tuple(size), device)  # type: ignore[arg-type]
    if checkpoint is not None:
        loaded.load_report = load_checkpoint(loaded.model, checkpoint, cache_dir)
        loaded.model.eval()
    return loaded


def import_models(package: str) -> ModuleType:
    """Import ``<package>.models`` (the libraries, not a model); mmyolo through its shim, since a
    plain ``import mmyolo.models`` fails its mmcv check (see ``adapters.mmyolo_shim``)."""
    if package == "mmyolo":
        from benchsel.adapters.mmyolo_shim import import_mmyolo

        import_mmyolo()
    return importlib.import_module(f"{package}.models")


def _quiet_openmmlab_logs() -> None:
    """mmengine logs every parameter's initialisation at INFO; keep warnings only."""
    import logging

    from mmengine.logging import MMLogger

    MMLogger.get_current_instance().setLevel(logging.WARNING)


__all__ = [
    "ClassSpec",
    "LoadReport",
    "LoadedModel",
    "build_model",
    "import_models",
    "load_checkpoint",
]
