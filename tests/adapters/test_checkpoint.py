"""Checkpoints: round trip through a file and a URL, refusal of pickle payloads."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import torch

from benchsel.adapters import ClassSpec, build_model
from benchsel.adapters.checkpoint import load_checkpoint_file
from benchsel.errors import CheckpointError

CLASSES = ClassSpec.things(["a", "b", "c"])


class _Payload:
    """Pickles to a call of os.system: what a hostile checkpoint carries."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained_ckpt(tmp_path_factory):
    """An RTMDet-tiny with perturbed (non-initial) weights, saved as a checkpoint."""
    torch.manual_seed(0)
    model = build_model("rtmdet-tiny", CLASSES, input_size=(128, 128))
    with torch.no_grad():
        for p in model.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        model.model.bbox_head.rtm_cls[0].bias.fill_(2.0)  # confident scores: many detections
    path = tmp_path_factory.mktemp("ckpt") / "rtmdet.pth"
    model.save_weights(str(path))
    return model, path


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.labels, y.labels)
        np.testing.assert_allclose(x.boxes, y.boxes, rtol=0, atol=1e-5)
        np.testing.assert_allclose(x.scores, y.scores, rtol=0, atol=1e-6)


def test_reload_from_path_gives_identical_predictions(trained_ckpt, rgb_image):
    model, path = trained_ckpt
    before = model.predict([rgb_image])
    assert len(before[0]) > 0, "the perturbed model should detect something"
    fresh = build_model("rtmdet-tiny", CLASSES, input_size=(128, 128), checkpoint=str(path))
    assert fresh.load_report is not None and not fresh.load_report.missing
    _assert_same(before, fresh.predict([rgb_image]))


def test_reload_from_url_is_cached(trained_ckpt, rgb_image, tmp_path):
    model, path = trained_ckpt
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        fresh = build_model(
            "rtmdet-tiny", CLASSES, input_size=(128, 128), checkpoint=url, cache_dir=tmp_path
        )
    finally:
        server.shutdown()
    _assert_same(model.predict([rgb_image]), fresh.predict([rgb_image]))
    assert list((tmp_path / "checkpoints").rglob("rtmdet.pth")), "download was not cached"


def test_checkpoint_for_other_classes_loads_all_but_the_head(trained_ckpt):
    _, path = trained_ckpt
    five = build_model(
        "rtmdet-tiny", ClassSpec.things(list("abcde")), input_size=(128, 128), checkpoint=str(path)
    )
    report = five.load_report
    assert report is not None
    assert report.shape_mismatch and all("rtm_cls" in m for m in report.shape_mismatch)
    assert len(report.loaded) > 100


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Payload(str(marker))}, bad)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint_file(bad)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        build_model("rtmdet-tiny", CLASSES, input_size=(128, 128), checkpoint=str(bad))
    assert not marker.exists()


def test_mmengine_style_meta_is_allowed(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    buf = HistoryBuffer()
    buf.update(1.5)
    ckpt = {
        "state_dict": {"w": torch.ones(2)},
        "meta": {"epoch": 3, "classes": ("a", "b"), "arr": np.arange(3), "f": np.float64(1.0)},
        "message_hub": {"log_scalars": {"loss": buf}},
    }
    path = tmp_path / "ok.pth"
    torch.save(ckpt, path)
    loaded = load_checkpoint_file(path)
    assert loaded["meta"]["epoch"] == 3


def test_missing_and_garbage_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_model("rtmdet-tiny", CLASSES, input_size=(128, 128), checkpoint=str(tmp_path / "x"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint_file(junk)


def test_unrelated_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"foo.weight": torch.zeros(3)}}, path)
    with pytest.raises(CheckpointError, match="no tensor of the checkpoint matches"):
        build_model("rtmdet-tiny", CLASSES, input_size=(128, 128), checkpoint=str(path))
