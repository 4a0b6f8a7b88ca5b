"""``mg.device``: a device name as an object, accepted wherever a device string is."""

from __future__ import annotations


class device:  # noqa: N801  (PyTorch's name)
    """``device('cpu')``, ``device('cuda')``, ``device('cuda:0')`` or ``device('cuda', 0)``.

    ``.type`` is ``'cpu'`` or ``'cuda'``, ``.index`` the GPU number or None.  It compares
    equal to a string naming it (``t.device == mg.device('cpu')``); a device without an
    index equals any of that type's devices, since minigrad uses one GPU per process.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got "
                            f"{type.__class__.__name__}")
        name = type.strip().lower()
        if ":" in name:
            if index is not None:
                raise RuntimeError(f"device: type {type!r} already has an index; got index={index}")
            name, _, number = name.partition(":")
            if not number.isdigit():
                raise RuntimeError(f"device: invalid device string {type!r} (expected 'cuda:N')")
            index = int(number)
        if name not in ("cpu", "cuda"):
            raise RuntimeError(f"device: expected one of cpu, cuda device type at start of "
                             f"device string: {type!r}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"device: index must be a non-negative int, got {index!r}")
        if name == "cpu" and index not in (None, 0):
            raise RuntimeError(f"device: the CPU has no index {index}")
        self.type, self.index = name, index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        if self.type != other.type:
            return False
        return self.index is None or other.index is None or self.index == other.index

    def __hash__(self) -> int:
        return hash(self.type)
