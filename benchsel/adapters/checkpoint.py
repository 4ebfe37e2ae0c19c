"""Checkpoints from a local path or a URL, loaded without arbitrary unpickling.

``torch.load(weights_only=True)`` refuses every pickled global not on an allow-list; the list
here adds only what OpenMMLab checkpoints carry besides tensors (numpy arrays, scalars and dtypes
of any numpy element type in ``meta``, mmengine's ``HistoryBuffer`` in the message hub). A
payload that tries to run code is refused before it runs.

``checkpoint: published`` names the catalog entry's published weights. A download whose file name
carries OpenMMLab's hash (``...-<first 8 hex digits of the sha256>.pth``) is checked against it
before it enters the cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsel.errors import CheckpointError

if TYPE_CHECKING:
    from benchsel.catalog import Architecture

DEFAULT_CACHE = Path(os.environ.get("BENCHSEL_CACHE", Path.home() / ".cache" / "benchsel"))
PUBLISHED = "published"  # a candidate's ``checkpoint``: the catalog's published weights
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8})\.pth$")  # OpenMMLab's publish_model suffix


@dataclass
class LoadReport:
    """What a checkpoint contributed to a model."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatch)} skipped for shape"
        )


def checkpoint_source(checkpoint: str | None, arch: Architecture) -> str | None:
    """The path or URL a candidate's ``checkpoint`` means (``published``: the catalog's weights)."""
    if checkpoint != PUBLISHED:
        return checkpoint
    if not arch.reference.weights:
        raise CheckpointError(
            f"{arch.id} has no published weights in the catalog; "
            "give the checkpoint as a path or URL"
        )
    return arch.reference.weights


def expected_sha256_prefix(name: str) -> str | None:
    """The sha256 prefix OpenMMLab writes into a checkpoint's file name, if it has one."""
    match = HASH_IN_NAME.search(name)
    return match.group(1) if match else None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_checkpoint(source: str, cache_dir: Path | None = None) -> Path:
    """A local file for ``source`` (path, ``file://`` or ``http(s)://`` URL; URLs are cached)."""
    if source.startswith(("http://", "https://")):
        return _download(source, (cache_dir or DEFAULT_CACHE) / "checkpoints")
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def _download(url: str, cache: Path) -> Path:
    name = Path(urllib.request.url2pathname(url.split("?")[0])).name or "checkpoint.pth"
    target = cache / hashlib.sha256(url.encode()).hexdigest()[:16] / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"cannot download checkpoint {url}: {exc}") from None
    expected = expected_sha256_prefix(name)
    if expected is not None and not (actual := sha256_file(Path(tmp))).startswith(expected):
        Path(tmp).unlink()
        raise CheckpointError(
            f"checkpoint {url}: its sha256 starts {actual[:8]} but its file name says "
            f"{expected}; the download is corrupt or not the published file"
        )
    os.replace(tmp, target)
    return target


def numpy_dtype_classes() -> list[type]:
    """Every dtype class of the installed numpy (``numpy.dtypes.UInt16DType``, ...).

    A pickled dtype is rebuilt as an instance of its class, which the weights-only unpickler
    checks against the allow-list. The classes only describe array element types; constructing
    one runs no user code, so allowing all of them keeps the guarantee that a file cannot call
    anything but allow-listed constructors.
    """
    import importlib

    import numpy as np

    classes: set[type] = set()
    try:
        dtypes = importlib.import_module("numpy.dtypes")  # numpy >= 1.25
    except ImportError:
        dtypes = None
    for name in dir(dtypes) if dtypes is not None else ():
        obj = getattr(dtypes, name)
        if isinstance(obj, type) and issubclass(obj, np.dtype) and obj is not np.dtype:
            classes.add(obj)
    for code in np.typecodes["All"]:  # older numpy: the classes exist but are not exported
        classes.add(type(np.dtype(code)))
    return sorted(classes, key=lambda c: c.__name__)


def _allowed_globals() -> list[Any]:
    import numpy as np

    allowed: list[Any] = [np.ndarray, np.dtype]
    core = getattr(np, "_core", None) or np.core
    for mod_name in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed.append((core.multiarray._reconstruct, f"{mod_name}._reconstruct"))
        allowed.append((core.multiarray.scalar, f"{mod_name}.scalar"))
    allowed += numpy_dtype_classes()
    from mmengine.logging.history_buffer import HistoryBuffer

    # mmengine's message hub pickles HistoryBuffer, whose bound statistics methods are written
    # as getattr(buffer, "min"). Allowing getattr lets a file read attributes of objects it may
    # already build, never call them: the weights-only unpickler's REDUCE still only calls
    # allow-listed callables (checked in torch/_weights_only_unpickler.py).
    allowed += [HistoryBuffer, getattr]
    return allowed


def load_checkpoint_file(path: Path) -> dict[str, Any]:
    """Load a checkpoint with weights-only unpickling; refuse anything else with a clear error."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        refused = [
            line.strip()
            for line in text.splitlines()
            if "global" in line.lower() or "call reduce" in line.lower()
        ]
        if refused:
            raise CheckpointError(
                f"refused to load {path}: it pickles objects outside the weights-only "
                f"allow-list, which could run code ({refused[0]})"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {path}: not a torch checkpoint") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def extract_state_dict(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The model weights of a checkpoint (``state_dict`` / ``model`` key, or the dict itself)."""
    import torch

    state = checkpoint
    for key in ("state_dict", "model"):
        if isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    tensors = {
        k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)
    }
    if not tensors:
        raise CheckpointError("checkpoint holds no tensors")
    return tensors


def apply_state_dict(model: Any, state: dict[str, Any]) -> LoadReport:
    """Copy matching tensors into ``model``; heads sized for other classes are skipped."""
    own = model.state_dict()
    report = LoadReport()
    usable = {}
    for name, tensor in state.items():
        if name not in own:
            report.unexpected.append(name)
        elif own[name].shape != tensor.shape:
            report.shape_mismatch.append(
                f"{name}: checkpoint {tuple(tensor.shape)} vs model {tuple(own[name].shape)}"
            )
        else:
            usable[name] = tensor
            report.loaded.append(name)
    report.missing = [n for n in own if n not in usable]
    if not usable:
        raise CheckpointError(
            "no tensor of the checkpoint matches the model; is it for another architecture?"
        )
    model.load_state_dict(usable, strict=False)
    return report


def load_checkpoint(model: Any, source: str, cache_dir: Path | None = None) -> LoadReport:
    """Fetch ``source`` and load its weights into ``model``."""
    path = fetch_checkpoint(source, cache_dir)
    return apply_state_dict(model, extract_state_dict(load_checkpoint_file(path)))
