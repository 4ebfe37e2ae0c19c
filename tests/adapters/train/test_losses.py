"""Semantic loss variants: the replacement losses against direct formulas, and every variant
training a real model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from benchsel.adapters.train.losses import (
    BOUNDARY_BAND_PX,
    BOUNDARY_EDGE_WEIGHT,
    EdgeWeightedCrossEntropyLoss,
    SigmoidFocalLoss,
    WeightedCrossEntropyLoss,
)


def _case(seed=0, classes=4):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, 5, 6, generator=gen)
    label = torch.randint(0, classes, (2, 5, 6), generator=gen)
    label[0, 0, :3] = 255
    return logits, label


def test_weighted_ce_is_the_weighted_mean_over_labelled_pixels():
    logits, label = _case()
    weights = [0.5, 1.0, 2.0, 4.0]
    got = WeightedCrossEntropyLoss(weights)(logits, label, ignore_index=255)
    logp = logits.log_softmax(1)
    num = den = 0.0
    for b, y, x in torch.nonzero(label != 255).tolist():
        c = int(label[b, y, x])
        num += -weights[c] * float(logp[b, c, y, x])
        den += weights[c]
    assert float(got) == pytest.approx(num / den, rel=1e-5)


def test_sigmoid_focal_matches_its_formula():
    logits, label = _case(1)
    got = SigmoidFocalLoss(gamma=2.0, alpha=0.25)(logits, label, ignore_index=255)
    total, count = 0.0, 0
    for b, y, x in torch.nonzero(label != 255).tolist():
        count += 1
        for c in range(logits.shape[1]):
            p = 1 / (1 + math.exp(-float(logits[b, c, y, x])))
            t = 1.0 if int(label[b, y, x]) == c else 0.0
            p_t = p if t else 1 - p
            alpha_t = 0.25 if t else 0.75
            total += -alpha_t * (1 - p_t) ** 2 * math.log(p_t)
    assert float(got) == pytest.approx(total / count, rel=1e-5)


def test_all_ignored_gives_zero_with_gradient():
    logits, label = _case()
    label[:] = 255
    logits.requires_grad_(True)
    for loss in (
        WeightedCrossEntropyLoss([1.0] * 4),
        SigmoidFocalLoss(),
        EdgeWeightedCrossEntropyLoss(),
    ):
        value = loss(logits, label, ignore_index=255)
        value.backward()
        assert float(value) == 0.0


def _brute_force_edges(label: torch.Tensor, band: int, ignore: int = 255) -> torch.Tensor:
    """Labelled pixels with a labelled pixel of another class within Chebyshev ``band``."""
    out = torch.zeros(label.shape, dtype=torch.bool)
    n, h, w = label.shape
    for b in range(n):
        for y in range(h):
            for x in range(w):
                own = int(label[b, y, x])
                if own == ignore:
                    continue
                window = label[b, max(0, y - band) : y + band + 1, max(0, x - band) : x + band + 1]
                out[b, y, x] = bool(((window != own) & (window != ignore)).any())
    return out


def test_edge_band_on_a_hand_made_label_map():
    """Band 1: the pixels with another label among their 8 neighbours; the ignored column
    creates no edge between the 1s and 2s beside it, the image border none either."""
    i = 255
    label = torch.tensor(
        [
            [0, 0, 0, 1, 1, 1, i, 2],
            [0, 0, 0, 1, 1, 1, i, 2],
            [0, 0, 0, 0, 1, 1, i, 2],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ]
    )[None]
    expected_edges = torch.tensor(
        [
            [0, 0, 1, 1, 0, 0, 0, 0],
            [0, 0, 1, 1, 1, 0, 0, 0],
            [0, 0, 1, 1, 1, 1, 0, 1],
            [0, 0, 0, 1, 1, 1, 1, 1],
        ]
    )[None].bool()
    loss = EdgeWeightedCrossEntropyLoss(band_px=1, edge_weight=4.0)
    expected = torch.where(expected_edges, 5.0, 1.0) * (label != i)
    assert torch.equal(loss.pixel_weights(label), expected)
    assert torch.equal(_brute_force_edges(label, 1), expected_edges)


@pytest.mark.parametrize("band", [1, BOUNDARY_BAND_PX, 3])
def test_edge_weighted_ce_is_the_weighted_mean_over_labelled_pixels(band):
    logits = torch.randn(2, 3, 17, 22, generator=torch.Generator().manual_seed(band))
    small = torch.randint(0, 3, (2, 3, 4), generator=torch.Generator().manual_seed(7))
    label = small.repeat_interleave(6, 1).repeat_interleave(6, 2)[:, :17, :22]
    label[0, 5:8, :9] = 255
    edges = _brute_force_edges(label, band)
    got = EdgeWeightedCrossEntropyLoss(band_px=band, loss_weight=0.4)(logits, label)
    logp = logits.log_softmax(1)
    num = den = 0.0
    for b, y, x in torch.nonzero(label != 255).tolist():
        weight = 1.0 + BOUNDARY_EDGE_WEIGHT * float(edges[b, y, x])
        num += -weight * float(logp[b, int(label[b, y, x]), y, x])
        den += weight
    assert 0 < int(edges.sum()) < int((label != 255).sum())
    assert float(got) == pytest.approx(0.4 * num / den, rel=1e-5)


def test_boundary_config_builds_the_loss_through_mmseg():
    from mmseg.registry import MODELS

    from benchsel.adapters.train.train_config import semantic_loss

    main, aux = semantic_loss("boundary", aux=False), semantic_loss("boundary", aux=True)
    assert main[0]["band_px"] == BOUNDARY_BAND_PX and main[0]["edge_weight"] == BOUNDARY_EDGE_WEIGHT
    built = MODELS.build(aux[0])
    assert isinstance(built, EdgeWeightedCrossEntropyLoss)
    assert (built.band_px, built.edge_weight, built.loss_weight) == (2, 10.0, 0.4)
    assert built.loss_name == "loss_edge_ce"


@pytest.mark.slow
def test_boundary_loss_trains_unet(tmp_path):
    """Two iterations of the light U-Net with the boundary loss on both heads."""
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.adapters.train.training import train
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "b",
            "dataset": {"sample": {"images": 8, "size": 64}},
            "candidates": [{"id": "unet-s5-d16", "task": "semantic", "losses": ["boundary"]}],
            "output": str(tmp_path / "out"),
        }
    )
    prepared = prepare(suite, {"semantic"}, RunLayout(tmp_path / "work"))
    model = build_model(
        "unet-s5-d16", ClassSpec.semantic(prepared.classes), variant="light", input_size=(64, 64)
    )
    result = train(
        model,
        prepared.train_split_cfg("semantic", 1.0),
        tmp_path / "run",
        iterations=2,
        batch_size=2,
        seed=0,
        loss="boundary",
    )
    heads = (model.model.decode_head.loss_decode, model.model.auxiliary_head.loss_decode)
    assert all(isinstance(h, EdgeWeightedCrossEntropyLoss) for h in heads)
    assert [h.loss_weight for h in heads] == [1.0, 0.4]
    assert result.iterations == 2 and result.loss == "boundary"
    assert all(math.isfinite(p["loss"]) for p in result.loss_curve)
    names = {k for p in result.loss_curve for k in p if "loss_" in k}
    assert {"decode.loss_edge_ce", "aux.loss_edge_ce"} <= names, names


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["ce", "weighted_ce", "dice_ce", "focal"])
def test_every_loss_variant_trains(loss, tmp_path):
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.adapters.train.train_config import class_weights_from_pixels
    from benchsel.adapters.train.training import train
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "l",
            "dataset": {"sample": {"images": 12, "size": 64}},
            "candidates": [{"id": "unet-s5-d16", "task": "semantic"}],
            "output": str(tmp_path / "out"),
        }
    )
    prepared = prepare(suite, {"semantic"}, RunLayout(tmp_path / "work"))
    model = build_model(
        "unet-s5-d16", ClassSpec.semantic(prepared.classes), variant="light", input_size=(64, 64)
    )
    weights = class_weights_from_pixels(prepared.stats["train_pixel_share"], prepared.classes)
    result = train(
        model,
        prepared.train_split_cfg("semantic", 1.0),
        tmp_path / "run",
        iterations=3,
        batch_size=2,
        seed=0,
        loss=loss,
        class_weight=weights if loss == "weighted_ce" else None,
        augmentation="strong",
    )
    assert result.iterations == 3
    assert all(math.isfinite(p["loss"]) for p in result.loss_curve)
    names = {k for p in result.loss_curve for k in p if "loss_" in k}
    expected = {
        "ce": "decode.loss_ce",
        "weighted_ce": "decode.loss_ce",
        "dice_ce": "decode.loss_dice",
        "focal": "decode.loss_focal",
    }[loss]
    assert expected in names, names
    assert Path(tmp_path / "run").is_dir()


@pytest.mark.slow
def test_dino_trains_at_its_minimum_size(tmp_path):
    """DINO's scaled training sizes stay above its 900-token minimum."""
    from benchsel.adapters import build_model
    from benchsel.adapters.train.training import train
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.pipeline.trial import class_spec
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "d",
            "dataset": {"sample": {"images": 8, "size": 96}},
            "candidates": [{"id": "dino-4scale-r50"}],
            "output": str(tmp_path / "out"),
        }
    )
    prepared = prepare(suite, {"detection"}, RunLayout(tmp_path / "work"))
    model = build_model("dino-4scale-r50", class_spec(prepared, "detection"), input_size=(256, 256))
    result = train(
        model,
        prepared.train_split_cfg("detection", 1.0),
        tmp_path / "run",
        iterations=1,
        batch_size=1,
        seed=0,
    )
    assert result.iterations == 1 and math.isfinite(result.loss_curve[0]["loss"])
