"""Checkpoints whose meta pickles numpy arrays, scalars and dtypes of any element type load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchsel.adapters.checkpoint import load_checkpoint_file, numpy_dtype_classes
from benchsel.errors import CheckpointError


class _Payload:
    """Pickles to a call of os.system."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_uint16_and_uint32_arrays_and_dtypes_in_meta_load(tmp_path):
    meta = {
        "u16": np.arange(5, dtype=np.uint16),
        "u32": np.array([1, 2**31 + 7], dtype=np.uint32),
        "u16_dtype": np.dtype("uint16"),
        "u32_dtype": np.dtype(np.uint32),
        "u64_scalar": np.uint64(2**40),
        "shape": np.zeros((2, 3), dtype=np.uint8).shape,
    }
    path = tmp_path / "published.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": meta}, path)
    loaded = load_checkpoint_file(path)["meta"]
    np.testing.assert_array_equal(loaded["u16"], meta["u16"])
    assert loaded["u16"].dtype == np.uint16
    np.testing.assert_array_equal(loaded["u32"], meta["u32"])
    assert loaded["u32"].dtype == np.uint32
    assert loaded["u16_dtype"] == np.dtype("uint16")
    assert loaded["u32_dtype"] == np.dtype("uint32")
    assert loaded["u64_scalar"] == np.uint64(2**40)


@pytest.mark.parametrize(
    "dtype",
    [
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "longdouble", "complex64", "complex128",
        "datetime64[s]", "timedelta64[ms]", "U3", "S4",
    ],
)  # fmt: skip
def test_every_numpy_element_type_loads(tmp_path, dtype):
    arr = np.zeros(3, dtype=dtype)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {"a": arr, "d": arr.dtype}}, path)
    loaded = load_checkpoint_file(path)["meta"]
    assert loaded["a"].dtype == arr.dtype and loaded["d"] == arr.dtype
    np.testing.assert_array_equal(loaded["a"], arr)


def test_allow_list_has_every_numpy_dtypes_class():
    import numpy.dtypes

    exported = {
        getattr(numpy.dtypes, name)
        for name in dir(numpy.dtypes)
        if name.endswith("DType") and isinstance(getattr(numpy.dtypes, name), type)
    }
    assert {numpy.dtypes.UInt16DType, numpy.dtypes.UInt32DType} <= exported
    assert exported <= set(numpy_dtype_classes())


def test_payload_next_to_numpy_dtypes_is_still_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    meta = {"u16": np.arange(3, dtype=np.uint16), "hook": _Payload(str(marker))}
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": meta}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_payload_inside_an_object_array_is_still_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = 1, _Payload(str(marker))
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"objs": arr}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint_file(path)
    assert not marker.exists()
