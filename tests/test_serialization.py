"""mg.save / mg.load: round trips, the file format, and refusing anything unsafe or broken."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.serialization import CheckpointError

# --- round trips ------------------------------------------------------------------------


def _nested():
    return {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.linspace(0, 1, 5),
        "i64": np.array([[1, -2], [3, 2**40]], dtype=np.int64),
        "bool": np.array([True, False, True]),
        "zero_d": np.array(3.5),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": np.arange(10.0)[::3],
        "int32": np.arange(3, dtype=np.int32),
        7: "int key",
        "7": "str key",
        -1: [1, 2.0, "three", None, True, False, (4, (5.5,)), []],
        "tuple": (np.ones(2), {"inner": {0: 1, 1: [np.int64(5), np.float32(0.25)]}}),
        "numbers": [0, -3, 2**70, 1e-300, -0.0, 1.0, float("inf"), -math.inf],
        "text": "héllo\n\"quoted\" ✓",
        "none": None,
        "empty_dict": {},
        "empty_tuple": (),
    }


def _assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key_a, key_b in zip(a, b):
            assert type(key_a) is type(key_b) and key_a == key_b
            _assert_same(a[key_a], b[key_b])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b
        if isinstance(a, float):
            assert math.copysign(1, a) == math.copysign(1, b)


def test_round_trip_nested_structure(tmp_path):
    obj = _nested()
    path = tmp_path / "nested.ckpt"
    mg.save(obj, path)
    _assert_same(obj, mg.load(path))


def test_nan_round_trips(tmp_path):
    mg.save({"x": float("nan"), "y": np.float64("nan")}, tmp_path / "n")
    out = mg.load(tmp_path / "n")
    assert math.isnan(out["x"]) and isinstance(out["x"], float)
    assert np.isnan(out["y"]) and out["y"].dtype == np.float64


def test_tensors_are_saved_as_their_arrays(tmp_path):
    t = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    mg.save({"t": t, "ints": mg.tensor([1, 2, 3])}, tmp_path / "t.mg")
    out = mg.load(tmp_path / "t.mg")
    assert type(out["t"]) is np.ndarray and out["t"].dtype == np.float32
    assert out["ints"].dtype == np.int64 and out["ints"].tolist() == [1, 2, 3]


def test_shared_arrays_stay_shared(tmp_path):
    a = np.arange(3.0)
    mg.save({"x": a, "y": [a]}, tmp_path / "s")
    out = mg.load(tmp_path / "s")
    assert out["x"] is out["y"][0]


def test_writes_exactly_path_as_an_npz(tmp_path):
    path = tmp_path / "model.pt"
    mg.save({"w": np.ones((2, 2), dtype=np.float32), "lr": 0.1}, str(path))
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # no .npz added, no temp left
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as z:  # plain numpy can read it
        assert sorted(z.files) == ["__minigrad__", "arr_0"]
        assert z["arr_0"].dtype == np.float32
        meta = json.loads(z["__minigrad__"].tobytes().decode("utf-8"))
    assert meta["format"] == "minigrad" and meta["version"] == 1 and meta["arrays"] == 1
    # a path with no suffix, and a path object
    mg.save([1], tmp_path / "noext")
    assert (tmp_path / "noext").exists() and not (tmp_path / "noext.npz").exists()


def test_overwrites_and_failed_save_keeps_old_file(tmp_path):
    path = tmp_path / "c.ckpt"
    mg.save({"v": 1}, path)
    mg.save({"v": 2}, path)
    assert mg.load(path) == {"v": 2}
    with pytest.raises(TypeError, match="cannot save"):
        mg.save({"v": 3, "bad": object()}, path)
    assert mg.load(path) == {"v": 2}
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt"]


def test_file_objects(tmp_path):
    buffer = io.BytesIO()
    mg.save({"a": np.arange(3)}, buffer)
    buffer.seek(0)
    assert mg.load(buffer)["a"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("obj, match", [
    ({"s": {1, 2}}, r"obj\['s'\] of type set"),
    ([lambda: 0], r"obj\[0\] of type function"),
    ({(1, 2): 3}, "dict keys must be str or int, got tuple"),
    ({1.5: 3}, "dict keys must be str or int, got float"),
    ({True: 3}, "dict keys must be str or int, got bool"),
    ({"o": np.array([object()], dtype=object)}, "array of Python objects"),
    (b"bytes", "of type bytes"),
])
def test_unsupported_objects_raise(obj, match, tmp_path):
    with pytest.raises(TypeError, match=match):
        mg.save(obj, tmp_path / "x")
    assert not os.listdir(tmp_path)


def test_reference_cycle_raises(tmp_path):
    cyclic: list = [1]
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="reference cycle"):
        mg.save(cyclic, tmp_path / "x")


def test_optimizer_state_dict_round_trip(tmp_path):
    a = mg.tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    b = mg.tensor(np.array([[0.5]], dtype=np.float32), requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, amsgrad=True)
    (a * a).sum().backward()
    (b * b).sum().backward()
    opt.step()
    sd = opt.state_dict()
    mg.save(sd, tmp_path / "opt.ckpt")
    _assert_same(sd, mg.load(tmp_path / "opt.ckpt"))  # int keys, tuples (betas), dtypes


def test_module_state_dict_round_trip(tmp_path):
    nn = pytest.importorskip("minigrad.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("minigrad.nn.Linear not available yet")
    model = nn.Linear(3, 2)
    sd = model.state_dict()
    mg.save(sd, tmp_path / "m.ckpt")
    loaded = mg.load(tmp_path / "m.ckpt")
    _assert_same(dict(sd), loaded)
    nn.Linear(3, 2).load_state_dict(loaded)


def test_map_location(tmp_path):
    mg.save({"a": np.arange(3.0)}, tmp_path / "c")
    assert isinstance(mg.load(tmp_path / "c", map_location="cpu")["a"], np.ndarray)
    with pytest.raises(ValueError, match="unknown device"):
        mg.load(tmp_path / "c", map_location="tpu")


@pytest.mark.skipif(not mg.cuda.is_available(), reason="CuPy/GPU not available")
def test_map_location_cuda(tmp_path):
    import cupy

    t = mg.tensor(np.arange(4, dtype=np.float32), device="cuda")
    mg.save({"t": t, "s": np.float32(1.5)}, tmp_path / "g")
    out = mg.load(tmp_path / "g", map_location="cuda")
    assert isinstance(out["t"], cupy.ndarray) and out["t"].dtype == np.float32
    assert out["s"] == np.float32(1.5)
    assert isinstance(mg.load(tmp_path / "g")["t"], np.ndarray)


# --- refusing bad files --------------------------------------------------------------------


def _meta(obj, version=1, fmt="minigrad"):
    text = json.dumps({"format": fmt, "version": version, "arrays": 1, "object": obj})
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


class _Exploit:
    """Unpickling this creates the file ``path`` (a stand-in for running any code)."""

    def __init__(self, path):
        self.path = Path(path)

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_the_exploit_payload_is_live(tmp_path):
    """Check that the payload used below really runs code when unpickled."""
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Exploit(marker)))
    assert marker.exists()


def test_refuses_object_array_from_savez(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        np.savez(f, __minigrad__=_meta({"array": 0}),
                 arr_0=np.array([_Exploit(marker)], dtype=object))
    with pytest.raises(CheckpointError, match="refusing to load entry 'arr_0'.*pickled"):
        mg.load(path)
    assert not marker.exists()


def test_refuses_npy_header_with_object_dtype(tmp_path):
    """A hand-made zip entry: a .npy header saying dtype object, then a raw pickle."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil2.ckpt"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("__minigrad__.npy", "w") as fh:
            np.lib.format.write_array(fh, _meta({"dict": [["w", {"array": 0}]]}))
        with zf.open("arr_0.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
            fh.write(pickle.dumps([_Exploit(marker)], protocol=3))
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        mg.load(path)
    assert not marker.exists()


def test_refuses_object_metadata(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil3.ckpt"
    with open(path, "wb") as f:
        np.savez(f, __minigrad__=np.array([_Exploit(marker)], dtype=object))
    with pytest.raises(CheckpointError, match="refusing to load entry '__minigrad__'"):
        mg.load(path)
    assert not marker.exists()


def test_refuses_raw_pickle_file(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": _Exploit(marker)}))
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint.*pickle"):
        mg.load(path)
    assert not marker.exists()


def test_truncated_file(tmp_path):
    path = tmp_path / "good.ckpt"
    mg.save({"w": np.random.default_rng(0).normal(size=(50, 50))}, path)
    data = path.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        mg.load(cut)


def test_corrupted_array_bytes(tmp_path):
    path = tmp_path / "good.ckpt"
    values = np.full(16, 1234.5678)
    mg.save({"w": values}, path)
    data = bytearray(path.read_bytes())
    data[data.find(values.tobytes()) + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or truncated.*arr_0"):
        mg.load(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.ckpt"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        mg.load(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint.*empty"):
        mg.load(tmp_path / "empty")


def test_single_npy_file(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(CheckpointError, match="single .npy array"):
        mg.load(tmp_path / "a.npy")


def test_plain_npz_without_metadata(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, arr_0=np.arange(3))
    with pytest.raises(CheckpointError, match="no '__minigrad__' metadata entry"):
        mg.load(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.ckpt"
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        mg.load(path)


def _write(path, **entries):
    with open(path, "wb") as f:
        np.savez(f, **entries)


def test_unknown_version(tmp_path):
    _write(tmp_path / "v", __minigrad__=_meta(None, version=99))
    with pytest.raises(CheckpointError, match="version 99"):
        mg.load(tmp_path / "v")


def test_other_format_name(tmp_path):
    _write(tmp_path / "f", __minigrad__=_meta(None, fmt="other"))
    with pytest.raises(CheckpointError, match="does not name the 'minigrad' format"):
        mg.load(tmp_path / "f")


def test_metadata_not_json(tmp_path):
    _write(tmp_path / "j", __minigrad__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="not valid JSON"):
        mg.load(tmp_path / "j")


def test_metadata_wrong_dtype(tmp_path):
    _write(tmp_path / "d", __minigrad__=np.zeros(3))
    with pytest.raises(CheckpointError, match="not uint8 bytes"):
        mg.load(tmp_path / "d")


def test_structure_references_missing_array(tmp_path):
    _write(tmp_path / "m", __minigrad__=_meta({"dict": [["w", {"array": 5}]]}),
           arr_0=np.zeros(2))
    with pytest.raises(CheckpointError, match="array 'arr_5', which is not in the file"):
        mg.load(tmp_path / "m")


@pytest.mark.parametrize("node", [
    {"array": -1}, {"array": "0"}, {"array": True}, {"bogus": 1}, {"a": 1, "b": 2},
    {"dict": [[1.5, 2]]}, {"dict": [["k"]]}, {"float": "1e3"},
])
def test_malformed_structure(node, tmp_path):
    _write(tmp_path / "s", __minigrad__=_meta(node), arr_0=np.zeros(2))
    with pytest.raises(CheckpointError, match="corrupt minigrad checkpoint"):
        mg.load(tmp_path / "s")


def test_torch_style_zip_is_refused(tmp_path):
    """torch.save writes a zip holding a pickle (archive/data.pkl): never unpickled."""
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(_Exploit(marker)))
    with pytest.raises(CheckpointError, match="PyTorch torch.save file"):
        mg.load(path)
    assert not marker.exists()
