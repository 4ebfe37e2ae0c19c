"""CVAT for images 1.1: known values, subsets as splits, and each broken case named by image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchsel.data import detect_format, load_data

META = (
    "<meta><task><labels><label><name>cat</name></label><label><name>dog</name></label>"
    "</labels></task></meta>"
)


def _xml(root: Path, shapes: str, image: str = "a.png", subset: str = "") -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30)).save(root / "images" / "a.png")
    attr = f' subset="{subset}"' if subset else ""
    xml = root / "annotations.xml"
    xml.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n{META}\n'
        f'<image id="0" name="{image}" width="40" height="30"{attr}>\n{shapes}\n</image>\n'
        "</annotations>\n"
    )
    return xml


def test_box_and_polygon_in_pixels(tmp_path):
    _xml(
        tmp_path,
        '<box label="dog" occluded="0" xtl="4" ytl="3.5" xbr="20" ybr="10" z_order="0">'
        '<attribute name="pose">left</attribute></box>\n'
        '<polygon label="cat" points="4.0,3.0;36.0,3.0;20.0,27.0" z_order="0"/>\n'
        '<polyline label="cat" points="1,1;2,2"/>',
    )
    assert detect_format(tmp_path) == "cvat"
    loaded = load_data(tmp_path)
    assert loaded.ok
    ds = loaded.splits["all"]
    assert ds.thing_classes == ["cat", "dog"]
    box, poly = ds.images[0].instances
    assert (box.label, box.box, box.segmentation) == (1, (4.0, 3.5, 20.0, 10.0), None)
    assert (poly.label, poly.box, poly.area) == (0, (4.0, 3.0, 36.0, 27.0), 384.0)
    assert poly.segmentation == [[4.0, 3.0, 36.0, 3.0, 20.0, 27.0]]
    assert ["1 <polyline> shapes not read" in w.message for w in loaded.issues.warnings] == [True]


def test_xml_file_itself_and_a_lone_test_subset(tmp_path):
    xml = _xml(tmp_path, '<box label="cat" xtl="1" ytl="1" xbr="9" ybr="9"/>', subset="Test")
    assert detect_format(xml) == "cvat"
    assert set(load_data(xml).splits) == {"val"}  # a test subset with no validation one


def test_unparsable_xml_names_the_line(tmp_path):
    xml = _xml(tmp_path, "")
    xml.write_text(xml.read_text()[:-30])
    (err,) = load_data(tmp_path, "cvat").issues.errors
    assert err.file == str(xml) and "does not parse at line" in err.message


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ('<box label="bird" xtl="1" ytl="1" xbr="9" ybr="9"/>', "label 'bird' is not in the"),
        ('<box label="cat" xtl="1" ytl="1" xbr="9"/>', "bad coordinates (missing ybr)"),
        ('<polygon label="cat" points="1,1;5,5;9"/>', "bad coordinates (odd number of"),
    ],
)
def test_bad_shapes_are_errors_naming_the_image(tmp_path, shape, message):
    _xml(tmp_path, shape)
    (err,) = load_data(tmp_path).issues.errors
    assert message in err.message and err.image_id == "a.png"


def test_missing_image_is_an_error(tmp_path):
    _xml(tmp_path, '<box label="cat" xtl="1" ytl="1" xbr="9" ybr="9"/>', image="gone.png")
    (err,) = load_data(tmp_path).issues.errors
    assert "image file is missing" in err.message and err.file.endswith("gone.png")


def test_shapes_outside_the_image_are_clipped_or_dropped(tmp_path):
    _xml(
        tmp_path,
        '<box label="cat" xtl="30" ytl="20" xbr="50" ybr="40"/>\n'
        '<polygon label="dog" points="50,1;60,1;55,9"/>',
    )
    loaded = load_data(tmp_path)
    (inst,) = loaded.splits["all"].images[0].instances
    assert inst.box == (30.0, 20.0, 40.0, 30.0)
    msgs = [str(w) for w in loaded.issues.warnings]
    assert any("<box> 1" in m and "(clipped)" in m for m in msgs)
    assert any("<polygon> 2" in m and "lies outside the 40x30 image (dropped)" in m for m in msgs)
