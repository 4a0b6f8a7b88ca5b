"""``mg.save(obj, path)`` / ``mg.load(path, map_location=None)``: checkpoints that never
run code when loaded.

A checkpoint is ONE uncompressed ``.npz`` file (a zip of ``.npy`` entries, readable
with ``numpy.load``) holding

* ``arr_0.npy``, ``arr_1.npy``, ...: every array in ``obj``, as NumPy arrays with
  their dtypes (CuPy arrays and Tensors are saved as their data, copied to the host);
* ``__minigrad__.npy``: a ``uint8`` array with UTF-8 JSON metadata::

      {"format": "minigrad", "version": 1, "arrays": N, "object": <structure>}

  where the structure mirrors ``obj``: JSON ``null``/booleans/numbers/strings/lists
  stand for themselves, and tagged one-key objects for the rest:
  ``{"dict": [[key, value], ...]}`` (keys are JSON strings or ints, so int keys stay
  ints), ``{"tuple": [...]}``, ``{"array": i}`` (the array ``arr_i``),
  ``{"scalar": i}`` (a NumPy scalar, stored as the 0-d ``arr_i``) and
  ``{"float": "nan" | "inf" | "-inf"}``.

``load`` reads it with ``numpy.load(..., allow_pickle=False)``: no pickle is ever
unpickled, no code is ever executed; anything unexpected raises ``CheckpointError``
(a ``ValueError``) with a message saying what is wrong.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import zipfile
from typing import Any, BinaryIO

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["CheckpointError", "load", "save"]

FORMAT_NAME = "minigrad"
FORMAT_VERSION = 1
_META = "__minigrad__"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries / an empty zip


class CheckpointError(ValueError):
    """A file that is not a valid minigrad checkpoint (or would need unpickling)."""


# --- save --------------------------------------------------------------------------------


def save(obj: Any, path: str | os.PathLike | BinaryIO) -> None:
    """Save ``obj`` (nested dicts with str/int keys, lists, tuples, str, int, float,
    bool, None, arrays, Tensors) to the file ``path`` (exactly that name: no suffix is
    added), or to a binary file object.

    The file is written to a temporary name in the same directory and then renamed,
    so a failed save leaves an existing checkpoint intact.
    """
    arrays: list[np.ndarray] = []
    structure = _encode(obj, arrays, {}, set(), "obj")
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "arrays": len(arrays),
            "object": structure}
    meta_bytes = json.dumps(meta, allow_nan=False, separators=(",", ":")).encode("utf-8")
    entries = [(_META, np.frombuffer(meta_bytes, dtype=np.uint8))]
    entries += [(f"arr_{i}", a) for i, a in enumerate(arrays)]

    if hasattr(path, "write"):
        _write_npz(path, entries)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory,
                       f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follow or reuse an existing file; mode 0o666 lets the umask decide
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _write_npz(f, entries) -> None:
    """The layout of ``numpy.savez`` (uncompressed), with pickling disabled."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in entries:
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)


def _encode(obj, arrays: list, array_ids: dict, active: set, where: str):
    """The JSON structure for ``obj``; arrays are appended to ``arrays``."""
    if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
        return {"scalar": _add_array(np.asarray(obj), obj, arrays, array_ids, where)}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        return {"float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
    if isinstance(obj, Tensor):
        return {"array": _add_array(obj.data, obj.data, arrays, array_ids, where)}
    if isinstance(obj, np.ndarray) or backend.device_of(obj) == "cuda":
        return {"array": _add_array(obj, obj, arrays, array_ids, where)}
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"mg.save: {where} contains itself (a reference cycle)")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if isinstance(key, np.integer):
                        key = int(key)
                    if isinstance(key, bool) or not isinstance(key, (str, int)):
                        raise TypeError(f"mg.save: dict keys must be str or int, got "
                                        f"{type(key).__name__} key {key!r} in {where}")
                    key = str(key) if isinstance(key, str) else int(key)
                    items.append([key, _encode(value, arrays, array_ids, active,
                                               f"{where}[{key!r}]")])
                return {"dict": items}
            values = [_encode(v, arrays, array_ids, active, f"{where}[{i}]")
                      for i, v in enumerate(obj)]
            return {"tuple": values} if isinstance(obj, tuple) else values
        finally:
            active.discard(id(obj))
    raise TypeError(
        f"mg.save: cannot save {where} of type {type(obj).__name__}: checkpoints hold "
        "dicts, lists, tuples, str, int, float, bool, None, arrays and Tensors "
        "(no pickled Python objects)")


def _add_array(array, original, arrays: list, array_ids: dict, where: str) -> int:
    """Store ``array`` once (the same array object saved twice is shared on load)."""
    key = id(original)
    if key in array_ids:
        return array_ids[key][0]
    host = backend.to_numpy(array)
    if host.dtype.hasobject:
        raise TypeError(f"mg.save: {where} is an array of Python objects (dtype "
                        f"{host.dtype}); only numeric, bool and string arrays can be saved")
    arrays.append(host)
    array_ids[key] = (len(arrays) - 1, original)  # keep `original` alive: ids stay unique
    return len(arrays) - 1


# --- load --------------------------------------------------------------------------------


def load(path: str | os.PathLike | BinaryIO, map_location: str | None = None) -> Any:
    """Load what ``mg.save`` saved: containers, numbers and strings as they were saved,
    arrays as NumPy arrays (or CuPy arrays with ``map_location='cuda'``), not Tensors.

    Raises FileNotFoundError for a missing file and ``CheckpointError`` (a ValueError)
    for anything that is not a valid minigrad checkpoint.  Never unpickles.
    """
    device = backend.normalize_device(map_location) if map_location is not None else "cpu"
    if hasattr(path, "read"):
        return _load_from(path, getattr(path, "name", "<file object>"), device)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "mg.load: no such checkpoint file", path)
    with open(path, "rb") as f:
        return _load_from(f, path, device)


def _load_from(f, name, device: str):
    start = f.tell() if f.seekable() else 0
    head = f.read(4)
    f.seek(start)
    if head not in _ZIP_MAGICS:
        if not head:
            why = "the file is empty"
        elif head[:1] == b"\x80":
            why = ("it looks like a pickle (e.g. from torch.save or pickle.dump), which "
                   "minigrad never unpickles")
        elif head == b"\x93NUM":
            why = "it is a single .npy array, not a checkpoint archive"
        else:
            why = "it is not a zip/.npz archive"
        raise CheckpointError(f"{name}: not a minigrad checkpoint ({why})")
    try:
        npz = np.load(f, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(f"{name}: not a minigrad checkpoint: the .npz archive is "
                              f"corrupt or truncated ({err})") from None
    with npz:
        if _META not in npz.files:
            if any(n.endswith("data.pkl") for n in npz.zip.namelist()):
                raise CheckpointError(
                    f"{name}: not a minigrad checkpoint: it looks like a PyTorch torch.save "
                    "file (pickle-based), which minigrad never unpickles")
            raise CheckpointError(
                f"{name}: not a minigrad checkpoint: no '{_META}' metadata entry (a plain "
                ".npz file? read it with numpy.load)")
        meta_array = _read_entry(npz, _META, name)
        if meta_array.dtype != np.uint8 or meta_array.ndim != 1:
            raise CheckpointError(f"{name}: corrupt minigrad checkpoint: the metadata entry "
                                  f"is {meta_array.dtype} {meta_array.shape}, not uint8 bytes")
        try:
            meta = json.loads(meta_array.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise CheckpointError(f"{name}: corrupt minigrad checkpoint: the metadata is "
                                  f"not valid JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise CheckpointError(f"{name}: not a minigrad checkpoint: the metadata does not "
                                  f"name the '{FORMAT_NAME}' format")
        version = meta.get("version")
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{name}: unsupported minigrad checkpoint format version {version!r} (this "
                f"minigrad reads version {FORMAT_VERSION}; was it written by a newer one?)")
        if "object" not in meta:
            raise CheckpointError(f"{name}: corrupt minigrad checkpoint: the metadata has no "
                                  f"'object' entry")
        try:
            return _decode(meta["object"], npz, {}, name, device)
        except RecursionError:
            raise CheckpointError(f"{name}: corrupt minigrad checkpoint: the structure is "
                                  f"nested too deeply") from None


def _read_entry(npz, key: str, name):
    """One array of the archive, with pickling refused and errors made clear."""
    try:
        value = npz[key]
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise CheckpointError(
                f"{name}: refusing to load entry '{key}': it holds pickled Python objects "
                f"(an object array); loading it could run arbitrary code, and minigrad "
                f"checkpoints never contain any") from None
        raise CheckpointError(f"{name}: corrupt minigrad checkpoint: entry '{key}' is not a "
                              f"valid .npy array ({err})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise CheckpointError(f"{name}: corrupt or truncated minigrad checkpoint: cannot read "
                              f"entry '{key}' ({err})") from None
    if not isinstance(value, np.ndarray):
        raise CheckpointError(f"{name}: corrupt minigrad checkpoint: entry '{key}' is not a "
                              f".npy array")
    return value


def _decode(node, npz, loaded: dict, name, device: str):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, npz, loaded, name, device) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "dict" and isinstance(value, list):
            out = {}
            for item in value:
                if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))):
                    raise CheckpointError(f"{name}: corrupt minigrad checkpoint: bad dict item "
                                          f"{item!r:.80} in the metadata")
                out[item[0]] = _decode(item[1], npz, loaded, name, device)
            return out
        if tag == "tuple" and isinstance(value, list):
            return tuple(_decode(v, npz, loaded, name, device) for v in value)
        if tag in ("array", "scalar") and isinstance(value, int) and not isinstance(value, bool):
            if tag == "scalar":  # a NumPy scalar: a host value whatever map_location says
                return _array(value, npz, {}, name, "cpu")[()]
            return _array(value, npz, loaded, name, device)
        if tag == "float" and value in ("nan", "inf", "-inf"):
            return float(value)
    raise CheckpointError(f"{name}: corrupt minigrad checkpoint: unexpected node "
                          f"{node!r:.80} in the metadata")


def _array(index: int, npz, loaded: dict, name, device: str):
    if index in loaded:
        return loaded[index]
    key = f"arr_{index}"
    if index < 0 or key not in npz.files:
        raise CheckpointError(f"{name}: corrupt minigrad checkpoint: the metadata refers to "
                              f"array '{key}', which is not in the file")
    array = _read_entry(npz, key, name)
    if device != "cpu":
        array = backend.to_device(array, device)
    loaded[index] = array
    return array
