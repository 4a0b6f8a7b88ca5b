"""Variable-length sequences, as ``torch.nn.utils.rnn``: padding, packing, unpacking.

A batch of sequences of different lengths has two layouts:

* **padded**: one ``(T, B, *)`` tensor (``(B, T, *)`` with ``batch_first=True``),
  sequence ``b`` in ``[:lengths[b], b]``, the rest ``padding_value``;
* **packed** (:class:`PackedSequence`): the valid rows only, time-major, the batch
  sorted by decreasing length.  ``data`` is ``(N, *)`` with ``N = sum(lengths)``; its
  first ``batch_sizes[0]`` rows are timestep 0 of every sequence, the next
  ``batch_sizes[1]`` rows timestep 1 of the sequences longer than 1, and so on.  So at
  step ``t`` exactly the first ``batch_sizes[t]`` (sorted) sequences are active: a
  recurrent layer slices its state instead of masking it, and padding never enters a
  computation.  ``sorted_indices[i]`` is the caller's batch position of sorted row
  ``i`` (``None`` when the batch came sorted); ``unsorted_indices`` is its inverse.

Moving between them is one gather or one scatter with an index computed from the
lengths in a few vectorised NumPy calls (no loop over sequences): every function here
is differentiable, with PyTorch's names, defaults (``batch_first=False``!), results
and errors.

    padded = pad_sequence([a, b, c], batch_first=True)        # (3, T, F)
    packed = pack_padded_sequence(padded, [5, 2, 7], batch_first=True,
                                  enforce_sorted=False)
    out, h_n = gru(packed)                                     # out: a PackedSequence
    out, lengths = pad_packed_sequence(out, batch_first=True)  # (3, 7, H), [5, 2, 7]
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ... import backend
from ...ops import sequence as Q
from ...ops import shape as S
from ...tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]

_SORT_HINT = (
    "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
    "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
    "sidestep this requirement if you do not need ONNX exportability.")


# ------------------------------------------------------------------ index arithmetic
def _cpu_long(values) -> Tensor:
    return Tensor._make(np.ascontiguousarray(values, dtype=np.int64))


def batch_sizes_of(sorted_lengths: np.ndarray) -> np.ndarray:
    """``batch_sizes[t]`` = how many of the (decreasing) ``sorted_lengths`` exceed ``t``."""
    counts = np.bincount(sorted_lengths, minlength=int(sorted_lengths[0]) + 1)
    return len(sorted_lengths) - np.cumsum(counts)[:-1]


def lengths_of(batch_sizes: np.ndarray) -> np.ndarray:
    """The sorted lengths back from ``batch_sizes``: row ``b`` is active while
    ``batch_sizes[t] > b``."""
    counts = -np.diff(batch_sizes, append=0)  # counts[t]: sequences of length t + 1
    return np.repeat(np.arange(1, len(batch_sizes) + 1), counts)[::-1].copy()


def concat_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(b, t)`` of every row of the sequences laid end to end: row ``n`` of the
    concatenation is timestep ``t[n]`` of sequence ``b[n]`` (``lengths[b]`` rows each)."""
    seq = np.repeat(np.arange(len(lengths)), lengths)
    return seq, np.arange(len(seq)) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def packed_positions(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, b)`` of every packed row: row ``n`` is timestep ``t[n]`` of sorted
    sequence ``b[n]``.  (The packed rows are the steps' blocks laid end to end.)"""
    return concat_positions(batch_sizes)


def _padded_index(seq: np.ndarray, steps: np.ndarray, batch_first: bool, like: Tensor) -> tuple:
    """The index of positions ``(steps, seq)`` in a padded tensor (``(seq, steps)`` with
    ``batch_first``), on ``like``'s device."""
    index = (seq, steps) if batch_first else (steps, seq)
    return tuple(_on(i, like) for i in index)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (``unsorted_indices`` from ``sorted_indices``)."""
    if permutation is None:
        return None
    xp = backend.get_array_module(permutation.data)
    inverse = xp.empty_like(permutation.data)
    inverse[permutation.data] = xp.arange(permutation.data.shape[0], dtype=inverse.dtype)
    return Tensor._make(inverse)


def _host(index: Tensor | None) -> np.ndarray | None:
    return None if index is None else backend.to_numpy(index.data).astype(np.int64)


def _on(array: np.ndarray, like: Tensor):
    """A host index array moved to ``like``'s device (indices must live there)."""
    return backend.to_device(array, like.device)


def _as_lengths(lengths, who: str) -> np.ndarray:
    """``lengths`` (list, tuple, array or Tensor on any device) as a host int64 vector."""
    if isinstance(lengths, Tensor):
        lengths = backend.to_numpy(lengths.data)
    array = np.asarray(lengths)
    if array.ndim != 1:
        raise RuntimeError(f"{who}: 'lengths' argument should be a 1D CPU int64 tensor, "
                           f"but got {array.ndim}D (shape {array.shape})")
    if array.size and array.dtype.kind == "f":
        if not np.all(array == np.floor(array)):
            raise TypeError(f"{who}: lengths must be integers, got {array.tolist()}")
    elif array.size and array.dtype.kind not in "iu":
        raise TypeError(f"{who}: lengths must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_lengths(lengths: np.ndarray, batch: int, steps: int | None,
                   enforce_sorted: bool, who: str) -> None:
    """PyTorch's conditions on ``lengths``, plus: no length beyond the padded ``steps``
    (PyTorch reads past the end of the input there)."""
    if batch == 0 or steps == 0:
        raise RuntimeError(f"{who}: Cannot pack empty tensors.")
    if len(lengths) != batch:
        raise RuntimeError(f"{who}: Expected `len(lengths)` to be equal to batch_size, but "
                           f"got {len(lengths)} (batch_size={batch})")
    bad = np.flatnonzero(lengths <= 0)
    if bad.size:
        raise RuntimeError(f"{who}: Length of all samples has to be greater than 0, but "
                           f"found an element in 'lengths' that is <= 0 (lengths[{bad[0]}]="
                           f"{lengths[bad[0]]})")
    if steps is not None:
        bad = np.flatnonzero(lengths > steps)
        if bad.size:
            raise RuntimeError(
                f"{who}: lengths[{bad[0]}]={lengths[bad[0]]} is longer than the padded "
                f"sequence dimension ({steps}); if your input is (batch, timesteps, *), "
                "pass batch_first=True")
    if enforce_sorted and np.any(np.diff(lengths) > 0):
        raise RuntimeError(f"{who}: {_SORT_HINT}")


def _sort(lengths: np.ndarray, enforce_sorted: bool):
    """``(sorted_lengths, sorted_indices or None)``; ties keep the caller's order."""
    if enforce_sorted:
        return lengths, None
    order = np.argsort(-lengths, kind="stable")
    return lengths[order], order


# ------------------------------------------------------------------ PackedSequence
class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """A packed batch of variable-length sequences (see the module docstring).

    Fields (a NamedTuple, as PyTorch's): ``data`` ``(N, *)``; ``batch_sizes`` a 1-D
    int64 CPU Tensor ``(T,)``; ``sorted_indices`` / ``unsorted_indices`` int64 Tensors
    ``(B,)`` on ``data``'s device, or ``None`` when the batch was already sorted.
    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence`.
    """

    def __new__(cls, data: Tensor, batch_sizes=None, sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None):
        if not isinstance(data, Tensor):
            raise TypeError(f"PackedSequence: data must be a Tensor, got "
                            f"{type(data).__name__}")
        given = batch_sizes
        if isinstance(batch_sizes, Tensor):
            if batch_sizes.device != "cpu":
                raise ValueError(
                    "PackedSequence: batch_sizes should always be on CPU. Instances of "
                    "PackedSequence should never be created manually. They should be "
                    "instantiated by functions like pack_sequence and pack_padded_sequence")
            batch_sizes = batch_sizes.data
        sizes = np.asarray(batch_sizes)
        if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu":
            raise ValueError(f"PackedSequence: batch_sizes must be a non-empty 1-D integer "
                             f"vector, got {sizes!r}")
        if np.any(sizes <= 0) or np.any(np.diff(sizes) > 0) or sizes.sum() != data.shape[0]:
            raise ValueError(
                f"PackedSequence: batch_sizes must be positive and non-increasing with sum "
                f"= data.shape[0] = {data.shape[0]}, got {sizes.tolist()}")
        if sorted_indices is not None and unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if not (isinstance(given, Tensor) and given.dtype == np.int64):
            given = _cpu_long(sizes)  # shared, not copied, when it already is one
        return super().__new__(cls, data, given, sorted_indices, unsorted_indices)

    # -- conversions (data moves; batch_sizes stays on the CPU) --------------------------
    def to(self, *args, **kwargs) -> PackedSequence:
        """``data.to(...)``; the indices follow ``data`` to its device."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(index):
            return None if index is None else index.to(data.device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cuda(self) -> PackedSequence:
        """``self.to('cuda')``."""
        return self.to("cuda")

    def cpu(self) -> PackedSequence:
        """``self.to('cpu')``."""
        return self.to("cpu")

    def double(self) -> PackedSequence:
        """``data`` as float64."""
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        """``data`` as float32."""
        return self.to(np.float32)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on the GPU."""
        return self.data.device == "cuda"

    def is_pinned(self) -> bool:
        """Always False (minigrad does not page-lock host memory)."""
        return False

    # -- the layout, as host arrays ---------------------------------------------------
    def _sizes(self) -> np.ndarray:
        return self.batch_sizes.data


# ------------------------------------------------------------------ functions
def _check_tensor(who: str, name: str, value, min_ndim: int) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{who}: expected {name} to be a Tensor, got {type(value).__name__}")
    if value.ndim < min_ndim:
        raise ValueError(f"{who}: expected {name} with at least {min_ndim} dims, got shape "
                         f"{tuple(value.shape)}")


def _padded_args(who: str, name: str, padded, lengths, batch_first: bool):
    """Check a padded batch and its lengths; ``(lengths as int64, batch, steps)``."""
    _check_tensor(who, name, padded, 2)
    batch_dim, time_dim = (0, 1) if batch_first else (1, 0)
    return _as_lengths(lengths, who), padded.shape[batch_dim], padded.shape[time_dim]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch: ``input`` ``(T, B, *)`` (``(B, T, *)`` with
    ``batch_first``), ``lengths`` ``(B,)`` (list or Tensor, each in ``[1, T]``).

    With ``enforce_sorted=True`` the lengths must be decreasing; otherwise the batch is
    sorted here (stable) and ``sorted_indices`` records the order.  Differentiable: the
    packed ``data`` is one gather of ``input``.
    """
    who = "pack_padded_sequence"
    lengths, batch, steps = _padded_args(who, "input", input, lengths, batch_first)
    _check_lengths(lengths, batch, steps, enforce_sorted, who)
    sorted_lengths, order = _sort(lengths, enforce_sorted)
    batch_sizes = batch_sizes_of(sorted_lengths)
    steps, rows = packed_positions(batch_sizes)
    if order is not None:
        rows = order[rows]  # the caller's batch position of each packed row
    data = Q.GatherRows.apply(input, index=_padded_index(rows, steps, batch_first, input))
    sorted_indices = None if order is None else Tensor._make(_on(order, input))
    return PackedSequence(data, batch_sizes, sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` with
    ``padded`` ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) in the caller's
    batch order, ``T = total_length`` or the longest length, ``padding_value``
    elsewhere, and ``lengths`` a CPU int64 Tensor ``(B,)``.  Differentiable."""
    who = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence, got {type(sequence).__name__}")
    batch_sizes = sequence._sizes()
    max_length, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if not _is_integral(total_length):
            raise TypeError(f"{who}: total_length must be an int or None, got "
                            f"{type(total_length).__name__}")
        if total_length < max_length:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence "
                f"in input, but got total_length={total_length} and max sequence length "
                f"being {max_length}")
        max_length = int(total_length)
    steps, rows = packed_positions(batch_sizes)
    lengths = lengths_of(batch_sizes)
    sorted_indices = _host(sequence.sorted_indices)
    if sorted_indices is not None:  # sorted row i belongs at the caller's position
        rows = sorted_indices[rows]
        caller_lengths = np.empty_like(lengths)
        caller_lengths[sorted_indices] = lengths
        lengths = caller_lengths
    data = sequence.data
    shape = ((batch, max_length) if batch_first else (max_length, batch)) + data.shape[1:]
    padded = Q.ScatterRows.apply(data, shape=shape,
                                 index=_padded_index(rows, steps, batch_first, data),
                                 fill=padding_value)
    return padded, _cpu_long(lengths)


def _check_sequences(sequences, who: str) -> list[Tensor]:
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    if not isinstance(sequences, Sequence) or isinstance(sequences, str):
        raise TypeError(f"{who}: expected a list or tuple of Tensors, got "
                        f"{type(sequences).__name__}")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{who}: received an empty list of sequences")
    first = sequences[0]
    for i, seq in enumerate(sequences):
        _check_tensor(who, f"sequences[{i}]", seq, 1)
        if seq.shape[1:] != first.shape[1:]:
            raise RuntimeError(
                f"{who}: every sequence must have the same trailing dims (after the "
                f"length); sequences[0] has shape {tuple(first.shape)}, sequences[{i}] has "
                f"{tuple(seq.shape)}")
        if seq.dtype != first.dtype or seq.device != first.device:
            raise TypeError(
                f"{who}: every sequence must have one dtype and device; sequences[0] is "
                f"{first.dtype} on '{first.device}', sequences[{i}] is {seq.dtype} on "
                f"'{seq.device}'")
    return sequences


def _concat(sequences: list[Tensor]) -> Tensor:
    return sequences[0] if len(sequences) == 1 else S.Cat.apply(*sequences, dim=0)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences ``(L_i, *)`` into one padded ``(T, B, *)`` tensor (``(B, T, *)``
    with ``batch_first``), ``T = max L_i``; ``padding_side='left'`` puts the padding
    before each sequence.  Differentiable (one concatenate and one scatter)."""
    who = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"{who}: Expected padding_side to be one of left or right, but "
                           f"got {padding_side}.")
    sequences = _check_sequences(sequences, who)
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    batch, max_length = len(sequences), int(lengths.max())
    rows, steps = concat_positions(lengths)
    if padding_side == "left":
        steps += np.repeat(max_length - lengths, lengths)
    flat = _concat(sequences)
    shape = ((batch, max_length) if batch_first else (max_length, batch)) + flat.shape[1:]
    return Q.ScatterRows.apply(flat, shape=shape,
                               index=_padded_index(rows, steps, batch_first, flat),
                               fill=padding_value)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (decreasing lengths unless
    ``enforce_sorted=False``); ``pack_padded_sequence(pad_sequence(sequences), lengths)``
    in one gather."""
    who = "pack_sequence"
    sequences = _check_sequences(sequences, who)
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    _check_lengths(lengths, len(sequences), None, enforce_sorted, who)
    sorted_lengths, order = _sort(lengths, enforce_sorted)
    batch_sizes = batch_sizes_of(sorted_lengths)
    steps, rows = packed_positions(batch_sizes)
    if order is not None:
        rows = order[rows]
    starts = np.cumsum(lengths) - lengths  # where each sequence begins in the concatenation
    flat = _concat(sequences)
    data = Q.GatherRows.apply(flat, index=(_on(starts[rows] + steps, flat),))
    sorted_indices = None if order is None else Tensor._make(_on(order, flat))
    return PackedSequence(data, batch_sizes, sorted_indices)


def _split_rows(flat: Tensor, lengths: np.ndarray) -> list[Tensor]:
    if len(lengths) == 1:
        return [flat]
    return list(S.Split.apply(flat, sizes=tuple(int(n) for n in lengths), dim=0,
                              squeeze=False))


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The inverse of :func:`pad_sequence`: the list of ``padded[:lengths[b], b]``
    (``padded[b, :lengths[b]]`` with ``batch_first``).  A length beyond the padded
    dimension takes the whole row, as PyTorch's does."""
    who = "unpad_sequence"
    lengths, batch, max_length = _padded_args(who, "padded_sequences", padded_sequences,
                                              lengths, batch_first)
    if len(lengths) != batch:
        raise RuntimeError(f"{who}: Expected `len(lengths)` to be equal to batch_size, but "
                           f"got {len(lengths)} (batch_size={batch})")
    lengths = np.clip(lengths, 0, max_length)
    rows, steps = concat_positions(lengths)
    flat = Q.GatherRows.apply(padded_sequences,
                              index=_padded_index(rows, steps, batch_first, padded_sequences))
    return _split_rows(flat, lengths)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of :func:`pack_sequence`: the list of sequences ``(L_b, *)`` in the
    caller's order (one gather and one split)."""
    who = "unpack_sequence"
    if not isinstance(packed_sequences, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence, got "
                        f"{type(packed_sequences).__name__}")
    batch_sizes = packed_sequences._sizes()
    starts = np.cumsum(batch_sizes) - batch_sizes  # first packed row of each step
    lengths = lengths_of(batch_sizes)  # sorted order
    unsorted = _host(packed_sequences.unsorted_indices)
    sorted_row = np.arange(len(lengths)) if unsorted is None else unsorted
    caller_lengths = lengths[sorted_row]
    seq, steps = concat_positions(caller_lengths)
    data = packed_sequences.data
    flat = Q.GatherRows.apply(data, index=(_on(starts[steps] + sorted_row[seq], data),))
    return _split_rows(flat, caller_lengths)


def _is_integral(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
