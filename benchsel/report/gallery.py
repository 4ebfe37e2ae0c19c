"""The report's label-issue gallery: small JPEG crops, embedded as data URIs.

A box issue shows the region around the box in question with the labelled boxes (green) and
the model's confident predictions (orange) drawn; a mask issue shows the image, its labelled
mask and the predicted one side by side. Each crop is at most ``CROP_SIDE`` pixels a side, so a
gallery of ``GALLERY_SIZE`` issues adds a few tens of kilobytes to the report.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from benchsel.errors import BenchselError
from benchsel.evaluation.label_issues import DEFAULT_HIGH_CONFIDENCE, LabelIssue, label_issues
from benchsel.evaluation.val_predictions import VOID, ValPredictions
from benchsel.store import TrialRecord

GALLERY_SIZE = 8
CROP_SIDE = 160
JPEG_QUALITY = 80
LABELLED = (40, 200, 70)
PREDICTED = (255, 140, 0)
ISSUE = (230, 30, 200)


def _data_uri(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _open(path: str) -> Any | None:
    from PIL import Image

    try:
        with Image.open(Path(path)) as im:
            return im.convert("RGB")
    except OSError:
        return None


def _box_crop(preds: ValPredictions, issue: LabelIssue, high: float) -> str | None:
    """The region around the issue's box (twice its size), boxes drawn, scaled to fit."""
    from PIL import Image, ImageDraw

    i = int(np.flatnonzero(preds.image_ids == issue.image_id)[0])
    image = _open(str(preds.image_files[i]))
    if image is None or issue.box is None:
        return None
    x1, y1, x2, y2 = issue.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1, 24.0)
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(image.width, int(cx + half)), min(image.height, int(cy + half))
    scale = CROP_SIDE / max(right - left, bottom - top, 1)
    crop = image.crop((left, top, right, bottom)).resize(
        (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale))),
        Image.Resampling.BILINEAR,
    )
    draw = ImageDraw.Draw(crop)

    def rect(box: Any, colour: tuple[int, int, int], width: int) -> None:
        bx1, by1, bx2, by2 = (
            (float(v) - o) * scale for v, o in zip(box, (left, top) * 2, strict=True)
        )
        draw.rectangle([bx1, by1, bx2, by2], outline=colour, width=width)

    for b in preds.gt_box[preds.gt_image == i]:
        rect(b, LABELLED, 2)
    confident = (preds.det_image == i) & (preds.det_score >= high)
    for b in preds.det_box[confident]:
        rect(b, PREDICTED, 1)
    rect(issue.box, ISSUE, 1)
    return _data_uri(crop)


def _palette(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    colours = rng.integers(40, 255, size=(max(n, 1), 3)).astype(np.uint8)
    return np.vstack([colours, np.zeros((256 - len(colours), 3), np.uint8)])


def _map_strip(preds: ValPredictions, issue: LabelIssue) -> str | None:
    """Image | labelled mask | predicted mask, each ``CROP_SIDE / 2`` high (void black)."""
    from PIL import Image

    i = int(np.flatnonzero(preds.image_ids == issue.image_id)[0])
    side = CROP_SIDE // 2
    colours = _palette(len(preds.classes))
    colours[VOID] = 0
    panels = [Image.fromarray(colours[m]) for m in (preds.map_gt[i], preds.map_pred[i])]
    image = _open(str(preds.image_files[i]))
    if image is not None:
        panels.insert(0, image)
    sized = [p.resize((side, side), Image.Resampling.NEAREST) for p in panels]
    strip = Image.new("RGB", (side * len(sized) + 2 * (len(sized) - 1), side), (255, 255, 255))
    for k, p in enumerate(sized):
        strip.paste(p, (k * (side + 2), 0))
    return _data_uri(strip)


def issue_gallery(
    trials: list[TrialRecord], task: str, size: int = GALLERY_SIZE
) -> list[dict[str, Any]]:
    """The task's top label issues, each with its crop (``uri``, None when the image file is
    gone) and the facts to caption it."""
    try:
        issues = label_issues(trials, top=size, task=task)
    except BenchselError:
        return []
    if not issues:
        return []
    from benchsel.evaluation.label_issues import best_trials

    best = best_trials(trials)[task]
    preds = ValPredictions.from_bytes(best.val_predictions or b"")
    high = best.metrics.get("f1_best_threshold") or DEFAULT_HIGH_CONFIDENCE
    out = []
    for issue in issues:
        uri = _box_crop(preds, issue, high) if preds.kind == "boxes" else _map_strip(preds, issue)
        out.append({**issue.to_dict(), "uri": uri, "score": round(issue.score, 4)})
    return out
