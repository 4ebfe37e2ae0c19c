"""Pascal VOC from labelling tools: ``<filename>`` that is not beside the XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

# Three images of distinct sizes, so an image resolved to the wrong file fails the size check.
SIZES = {"a": (40, 30), "b": (36, 28), "c": (44, 32)}
BOXES = {"a": 1, "b": 2, "c": 3}  # boxes per image: 6 in all


def _voc(root: Path, named: dict[str, str], on_disk: dict[str, str]) -> Path:
    """A VOC folder: XML ``<id>.xml`` names ``named[id]``; ``JPEGImages`` holds ``on_disk``."""
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for stem, file in on_disk.items():
        w, h = SIZES[stem]
        Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(root / "JPEGImages" / file)
    for stem, name in named.items():
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = name
        size = ET.SubElement(ann, "size")
        w, h = SIZES[stem]
        for tag, val in (("width", w), ("height", h), ("depth", 3)):
            ET.SubElement(size, tag).text = str(val)
        for k in range(BOXES[stem]):
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = "cat" if k % 2 == 0 else "dog"
            bb = ET.SubElement(obj, "bndbox")
            for tag, val in (("xmin", 2 + k), ("ymin", 3), ("xmax", 20 + k), ("ymax", 15)):
                ET.SubElement(bb, tag).text = str(val)
        ET.ElementTree(ann).write(root / "Annotations" / f"{stem}.xml")
    return root


def _warnings(report: dict) -> list[dict]:
    return [w for w in report["warnings"] if "<filename>" in w["message"]]


def test_filename_with_another_extension_reads_with_a_warning(tmp_path, benchsel):
    root = _voc(
        tmp_path,
        named={"a": "a.tif", "b": "b.jpg", "c": "c.jpg"},
        on_disk={"a": "a.png", "b": "b.JPG", "c": "c.jpg"},  # c is as named
    )
    result = benchsel("data", "check", str(root), "--json")
    report = result.report()
    assert result.code == 0, report["errors"]
    assert report["format"] == "voc" and not report["errors"]
    assert report["stats"]["all"]["images"] == 3
    assert report["stats"]["all"]["instances"] == 6
    assert report["stats"]["all"]["instances_per_class"] == {"cat": 4, "dog": 2}
    warned = {Path(w["file"]).name: w["message"] for w in _warnings(report)}
    assert set(warned) == {"a.xml", "b.xml"}
    assert warned["a.xml"].endswith(f"using {root / 'JPEGImages' / 'a.png'}")
    assert "'a.tif' is not in" in warned["a.xml"]
    assert warned["b.xml"].endswith(f"using {root / 'JPEGImages' / 'b.JPG'}")

    human = benchsel("data", "check", str(root))
    assert human.code == 0
    line = next(x for x in human.output.splitlines() if "a.xml" in x)
    assert line.startswith("warning: ") and str(root / "Annotations" / "a.xml") in line
    assert "OK: 0 errors" in human.output


def test_absolute_path_from_the_labellers_machine(tmp_path, benchsel):
    root = _voc(
        tmp_path,
        named={
            "a": "/home/alice/labelling/a.jpg",
            "b": "C:\\Users\\bob\\Pictures\\b.png",
            "c": "/mnt/share/c.tif",  # neither the path nor the extension are right
        },
        on_disk={"a": "a.jpg", "b": "b.png", "c": "c.png"},
    )
    result = benchsel("data", "check", str(root), "--json")
    report = result.report()
    assert result.code == 0, report["errors"]
    assert report["stats"]["all"]["images"] == 3
    assert report["stats"]["all"]["instances"] == 6
    warned = {Path(w["file"]).name: w["message"] for w in _warnings(report)}
    assert set(warned) == {"c.xml"}  # a base name found in JPEGImages needs no warning
    assert warned["c.xml"].endswith(f"using {root / 'JPEGImages' / 'c.png'}")


def test_image_found_by_the_named_files_stem(tmp_path, benchsel):
    root = _voc(tmp_path, named={"a": "IMG_0007.tif"}, on_disk={"a": "IMG_0007.png"})
    result = benchsel("data", "check", str(root), "--json")
    assert result.code == 0, result.output
    (warning,) = _warnings(result.report())
    assert warning["message"].endswith(f"using {root / 'JPEGImages' / 'IMG_0007.png'}")


def test_no_matching_image_is_an_error_naming_what_was_tried(tmp_path, benchsel):
    root = _voc(
        tmp_path,
        named={"a": "a.tif", "b": "b.png"},
        on_disk={"b": "b.png", "c": "other.png"},
    )
    result = benchsel("data", "check", str(root), "--json")
    report = result.report()
    assert result.code == 1
    (error,) = report["errors"]  # one error, not also a second "missing" for the same image
    assert error["file"] == str(root / "Annotations" / "a.xml")
    assert error["message"] == (
        "image file is missing: tried a.tif, a.{jpg,jpeg,png,bmp,tif,tiff,webp} "
        f"(extensions in any case) in {root / 'JPEGImages'}"
    )

    human = benchsel("data", "check", str(root))
    assert human.code == 1
    assert f"error: {root / 'Annotations' / 'a.xml'} image 0: image file is missing" in human.output
    assert "FAILED: 1 errors" in human.output
