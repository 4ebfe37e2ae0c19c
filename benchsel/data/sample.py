"""Built-in sample data: procedurally generated scenes, written in every supported format.

Each image has textured "stuff" regions (sky, grass, sand) and a few "thing" shapes (circle,
square, triangle) of distinct colours, at varied scales, partly occluding each other. The same
scenes are written as COCO instances, COCO panoptic, semantic masks and Pascal VOC, so every
task can be benchmarked on them. Deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchsel.data.coco import write_coco
from benchsel.data.coco_panoptic import write_coco_panoptic
from benchsel.data.masks import write_label_png
from benchsel.data.types import Dataset, ImageRecord, Instance, Segment
from benchsel.data.voc import write_voc

THINGS = ("circle", "square", "triangle")
STUFF = ("sky", "grass", "sand")
CLASSES = (*THINGS, *STUFF)
THING_RGB = ((210, 40, 40), (235, 205, 30), (40, 80, 225))
MIN_VISIBLE_PX = 16
MANIFEST = "sample.json"

SAMPLE_FILES = {
    "coco": "annotations/instances_all.json",
    "coco_panoptic": "annotations/panoptic_all.json",
    "mask_folder": "labels",
    "voc": "Annotations",
}


def _stuff_layout(rng: np.random.Generator, size: int) -> np.ndarray:
    """Stuff label (index into STUFF) per pixel: sky above a wavy horizon, grass | sand below."""
    yy, xx = np.mgrid[0:size, 0:size]
    horizon = size * rng.uniform(0.25, 0.6)
    wobble = size * 0.06 * np.sin(xx / size * rng.uniform(2, 7) + rng.uniform(0, 6.3))
    layout = np.where(yy < horizon + wobble, 0, 1)
    split = size * rng.uniform(-0.2, 1.2)  # sometimes no sand at all
    slope = rng.uniform(-0.8, 0.8)
    layout[(layout == 1) & (xx > split + slope * (yy - size / 2))] = 2
    return layout


def _stuff_texture(rng: np.random.Generator, layout: np.ndarray) -> np.ndarray:
    size = layout.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size, 3), dtype=np.float32)
    noise = rng.normal(0, 1, (size, size, 1)).astype(np.float32)
    sky = np.array([120, 180, 235]) + (yy[..., None] / size) * np.array([40, 30, 10]) + 4 * noise
    grass = np.array([60, 135, 55]) + 22 * noise
    stripes = 12 * np.sin((xx + yy)[..., None] * 0.7)
    sand = np.array([185, 160, 115]) + stripes + 6 * noise
    for k, tex in enumerate((sky, grass, sand)):
        img[layout == k] = tex[layout == k]
    return img


def _shape_mask(rng: np.random.Generator, kind: int, size: int) -> np.ndarray:
    import cv2

    scale = float(np.exp(rng.uniform(np.log(max(8.0, 0.15 * size)), np.log(0.75 * size))))
    cx, cy = rng.uniform(0.1 * size, 0.9 * size, 2)
    mask = np.zeros((size, size), dtype=np.uint8)
    if kind == 0:
        cv2.circle(mask, (int(cx), int(cy)), max(2, int(scale / 2)), 1, -1)
    else:
        n = 4 if kind == 1 else 3
        angle = rng.uniform(-0.35, 0.35) + (np.pi / 4 if n == 4 else -np.pi / 2)
        radius = scale / (np.sqrt(2) if n == 4 else 1.6)
        theta = angle + 2 * np.pi * np.arange(n) / n
        pts = np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def _polygons(mask: np.ndarray) -> list[list[float]]:
    import cv2

    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polys = []
    for c in contours:
        if len(c) >= 3:
            polys.append([float(v) + 0.5 for v in c.reshape(-1)])
    return polys


def _scene(rng: np.random.Generator, size: int):
    layout = _stuff_layout(rng, size)
    img = _stuff_texture(rng, layout)
    n_things = int(rng.integers(1, 5))
    masks: list[np.ndarray] = []
    kinds: list[int] = []
    for _ in range(n_things):
        kind = int(rng.integers(0, len(THINGS)))
        mask = _shape_mask(rng, kind, size)
        colour = np.array(THING_RGB[kind]) + rng.integers(-25, 26, 3)
        shade = 1 + 0.08 * rng.normal(0, 1, (size, size, 1))
        img = np.where(mask[..., None], colour * shade, img)
        masks = [m & ~mask for m in masks]  # later shapes occlude earlier ones
        masks.append(mask)
        kinds.append(kind)
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    return img, layout, list(zip(kinds, masks, strict=True))


def generate_sample(out: Path, images: int = 240, size: int = 128, seed: int = 0) -> Dataset:
    """Write ``images`` scenes under ``out`` in every format; reuse them if already there."""
    from PIL import Image

    params = {"images": images, "size": size, "seed": seed, "version": 3}
    manifest = out / MANIFEST
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records: list[ImageRecord] = []
    maps: dict[int, np.ndarray] = {}
    reuse = manifest.is_file() and json.loads(manifest.read_text()) == params
    (out / "images").mkdir(exist_ok=True)
    for i in range(images):
        img, layout, things = _scene(rng, size)
        file = out / "images" / f"{i:06d}.png"
        if not reuse:
            Image.fromarray(img).save(file)
        rec = ImageRecord(i + 1, file, size, size)
        seg_map = np.zeros((size, size), dtype=np.int64)
        semantic = (layout + len(THINGS)).astype(np.int64)
        next_id = 1
        for k in range(len(STUFF)):
            region = layout == k
            for _kind, mask in things:
                region &= ~mask
            if region.sum() >= MIN_VISIBLE_PX:
                seg_map[region] = next_id
                rec.segments.append(_segment(next_id, len(THINGS) + k, region))
                next_id += 1
        for kind, mask in things:
            if mask.sum() < MIN_VISIBLE_PX:
                continue
            polys = _polygons(mask)
            if not polys:
                continue
            seg = _segment(next_id, kind, mask)
            seg_map[mask] = next_id
            semantic[mask] = kind
            rec.segments.append(seg)
            assert seg.box is not None
            rec.instances.append(Instance(next_id + 1000 * (i + 1), kind, seg.box, seg.area, polys))
            next_id += 1
        maps[rec.id] = seg_map
        if not reuse:
            write_label_png(semantic, out / "labels" / f"{i:06d}.png")
        records.append(rec)
    dataset = Dataset(
        "sample",
        "coco_panoptic",
        out,
        list(CLASSES),
        len(THINGS),
        records,
        category_ids=list(range(1, len(CLASSES) + 1)),
    )
    if not reuse:
        write_coco(dataset, out / SAMPLE_FILES["coco"])
        write_coco_panoptic(dataset, maps, out / SAMPLE_FILES["coco_panoptic"])
        write_voc(dataset, out)
        (out / "classes.txt").write_text("\n".join(CLASSES) + "\n")
        manifest.write_text(json.dumps(params))
    return dataset


def _segment(seg_id: int, label: int, mask: np.ndarray) -> Segment:
    ys, xs = np.nonzero(mask)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return Segment(seg_id, label, False, float(mask.sum()), box)
