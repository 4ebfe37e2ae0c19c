"""Reading and checking image files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchsel.data.types import Issues

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def probe_image(path: Path, issues: Issues, image_id: object = None) -> tuple[int, int] | None:
    """(width, height) of a fully decodable image; otherwise record an error and return None."""
    from PIL import Image

    if not path.is_file():
        issues.error(path, "image file is missing", image_id)
        return None
    try:
        with Image.open(path) as im:
            im.load()  # full decode: catches truncated files that verify() lets through
            return im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        issues.error(path, f"corrupt or truncated image ({exc})", image_id)
        return None


def read_rgb(path: Path) -> np.ndarray:
    """An image as RGB uint8 (H, W, 3)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def find_image_dir(candidates: Iterable[Path], file_name: str) -> Path | None:
    """The first existing folder among ``candidates`` that holds ``file_name``."""
    for folder in candidates:
        if (folder / file_name).is_file():
            return folder
    return None
