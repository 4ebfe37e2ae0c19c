"""``checkpoint: published``: the catalog's URL, downloaded once, checked against the sha256
prefix OpenMMLab writes into the file name. Served from a loopback HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from benchsel.adapters.checkpoint import (
    PUBLISHED,
    checkpoint_source,
    expected_sha256_prefix,
    fetch_checkpoint,
    load_checkpoint_file,
)
from benchsel.catalog import Architecture, load_catalog
from benchsel.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[2]


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Path, str, list[str]]]:
    """(folder served, base URL, paths requested) of a server on 127.0.0.1."""
    folder = tmp_path / "www"
    folder.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_Counting,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def _checkpoint(folder: Path, hash_in_name: str | None = None) -> str:
    """A small OpenMMLab-style checkpoint, named ``tiny_coco_20261203-<sha256[:8]>.pth``."""
    import torch

    tmp = folder / "tmp.pth"
    torch.save({"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "meta": {}}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    name = f"tiny_coco_20261203-{hash_in_name or digest}.pth"
    tmp.rename(folder / name)
    return name


def _with_weights(url: str | None) -> Architecture:
    arch = load_catalog().get("rtmdet-tiny")
    return arch.model_copy(update={"reference": arch.reference.model_copy(update={"weights": url})})


def test_published_is_downloaded_once_and_verified(served, tmp_path):
    folder, base, requests = served
    url = f"{base}/{_checkpoint(folder)}"
    source = checkpoint_source(PUBLISHED, _with_weights(url))
    assert source == url
    first = fetch_checkpoint(source, tmp_path / "cache")
    again = fetch_checkpoint(source, tmp_path / "cache")
    assert first == again and len(requests) == 1
    state = load_checkpoint_file(first)["state_dict"]
    assert state["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_hash_mismatch_names_both_hashes_and_caches_nothing(served, tmp_path):
    folder, base, _ = served
    name = _checkpoint(folder, hash_in_name="deadbeef")
    actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()[:8]
    with pytest.raises(CheckpointError) as err:
        fetch_checkpoint(f"{base}/{name}", tmp_path / "cache")
    assert "deadbeef" in str(err.value) and actual in str(err.value)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_paths_and_urls_pass_through_and_missing_weights_is_clear():
    assert checkpoint_source("a/b.pth", _with_weights(None)) == "a/b.pth"
    assert checkpoint_source(None, _with_weights(None)) is None
    with pytest.raises(CheckpointError, match="rtmdet-tiny has no published weights"):
        checkpoint_source(PUBLISHED, _with_weights(None))


def test_suites_name_published_weights_the_catalog_holds():
    catalog = load_catalog()
    for suite in ("full.yaml", "backbones.yaml"):
        candidates = yaml.safe_load((ROOT / "suites" / suite).read_text())["candidates"]
        published = [c["id"] for c in candidates if c.get("checkpoint") == PUBLISHED]
        assert len(published) >= 10
        for arch_id in published:
            weights = catalog.get(arch_id).reference.weights
            assert weights and expected_sha256_prefix(weights.rsplit("/", 1)[-1]), arch_id
