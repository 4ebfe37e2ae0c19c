"""Shared fixtures: the real data beside the project, small images, the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """Path of a real data set in ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it only exists beside the project checkout)")
    return path


@pytest.fixture
def rgb_image() -> np.ndarray:
    """A small seeded RGB image with a few bright rectangles."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, size=(96, 128, 3), dtype=np.uint8)
    img[20:60, 30:80] = (220, 40, 40)
    img[50:90, 90:120] = (40, 200, 60)
    return img
