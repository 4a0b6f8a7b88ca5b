"""Merging samples into a batch: ``default_collate`` (batched loading) and
``default_convert`` (``batch_size=None``), as ``torch.utils.data``.

``default_collate`` maps, by the type of the batch's first element:

* ``Tensor`` -> the samples stacked along a new dim 0;
* NumPy array -> a Tensor (dtype kept), stacked the same way;
* NumPy scalar -> a 1-D Tensor of its dtype;
* ``float`` -> float64, ``int`` -> int64, ``bool`` -> bool 1-D Tensors (as PyTorch);
* ``str`` / ``bytes`` -> the list, unchanged;
* mapping, namedtuple, tuple/list -> the same structure, collated field by field
  (tuples come back as lists, as in PyTorch).

``collate(batch, collate_fn_map=...)`` is the engine: ``collate_fn_map`` maps element
types to functions ``f(batch, *, collate_fn_map)``, so a custom ``collate_fn`` can
handle its own types and fall back to the defaults.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ....functions import stack
from ....tensor import Tensor, tensor

# dtypes default_collate cannot turn into a Tensor: bytes, str, unicode, object
_NOT_NUMERIC = re.compile(r"[SaUO]")
_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
          "lists; found {}")
_HINT = (" (samples of different shapes cannot be stacked: pad them in a collate_fn, e.g. "
         "with nn.utils.rnn.pad_sequence)")


def _check_same_shape(shapes: list[tuple[int, ...]]) -> None:
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(shapes[0])} at entry 0 and {list(shape)} at entry "
                               f"{i}{_HINT}")


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map=None) -> Tensor:
    """Stack same-shape Tensors into ``(len(batch), *shape)``."""
    _check_same_shape([t.shape for t in batch])
    return stack(list(batch), 0)


def collate_numpy_array_fn(batch: list[np.ndarray], *, collate_fn_map=None) -> Tensor:
    """Stack same-shape arrays into a ``(len(batch), *shape)`` Tensor of their dtype."""
    if _NOT_NUMERIC.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERROR.format(batch[0].dtype))
    _check_same_shape([a.shape for a in batch])
    return Tensor._make(np.stack(batch))


def collate_numpy_scalar_fn(batch: list[np.generic], *, collate_fn_map=None) -> Tensor:
    """NumPy scalars -> a ``(len(batch),)`` Tensor of their (common) dtype."""
    return Tensor._make(np.array(batch))


def collate_float_fn(batch: list[float], *, collate_fn_map=None) -> Tensor:
    """Python floats -> a float64 ``(len(batch),)`` Tensor (as PyTorch)."""
    return Tensor._make(np.array(batch, dtype=np.float64))


def collate_int_fn(batch: list[int], *, collate_fn_map=None) -> Tensor:
    """Python ints (or bools) -> an int64 (bool) ``(len(batch),)`` Tensor."""
    return tensor(batch)  # int64 (bool for bools; a float mixed in: the default dtype)


def collate_str_fn(batch: list[str], *, collate_fn_map=None) -> list[str]:
    """Strings and bytes stay as they are: the batch is their list."""
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch: list, *, collate_fn_map: dict | None = None) -> Any:
    """Collate ``batch`` (a list of samples) by the type of its first element:
    ``collate_fn_map`` first (exact type, then ``isinstance`` in insertion order), then
    mappings, namedtuples and sequences recursively."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)

    def recurse(samples):
        return collate(list(samples), collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        fields = {key: recurse([d[key] for d in batch]) for key in elem}
        return _rebuild_mapping(elem, fields)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(recurse(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for i, sample in enumerate(batch):
            if len(sample) != size:
                raise RuntimeError(f"each element in list of batch should be of equal "
                                   f"size: element 0 has {size} items, element {i} has "
                                   f"{len(sample)}")
        columns = [recurse(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # tuples become lists, as in PyTorch
        return _rebuild_sequence(elem, columns)
    raise TypeError(_ERROR.format(elem_type))


def _rebuild_mapping(like, fields: dict):
    """``fields`` in the mapping type of ``like`` (a dict when that type cannot be
    rebuilt)."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(fields)
            return clone
        return type(like)(fields)
    except TypeError:
        return fields


def _rebuild_sequence(like, items: list):
    """``items`` in the sequence type of ``like`` (a list when that type cannot be
    rebuilt)."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(like)(items)
    except TypeError:
        return items


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch: Tensors, arrays and numbers are stacked
    into Tensors with a new leading dim ``len(batch)``; tuples, lists, dicts and
    namedtuples are collated field by field; strings stay lists.

        default_collate([(mg.zeros(3), 1), (mg.ones(3), 0)])
        # [Tensor (2, 3), Tensor([1, 0]) int64]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars (also inside mappings, namedtuples and sequences)
    into Tensors, without batching; what ``DataLoader(batch_size=None)`` applies."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, (np.str_,
                                                                             np.bytes_)):
        if isinstance(data, np.ndarray) and _NOT_NUMERIC.search(data.dtype.str):
            return data
        return Tensor._make(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # as PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data
