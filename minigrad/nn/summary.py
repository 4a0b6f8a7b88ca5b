"""``Module.summary``: a Keras-style table of a model's layers, output shapes and
parameter counts, found by running one forward pass on zeros."""

from __future__ import annotations

from .. import creation, dtypes
from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module


def summary(module: Module, input_shape, dtype=None) -> str:
    """Run ``module`` on zeros of ``input_shape`` (batch dim included) and return (and
    print) a table with one row per submodule: its dotted name and class, the shape of
    its output (of the first tensor, for tuple outputs such as an RNN's) and the number
    of parameters it owns directly (not those of its children), then the totals.

    The input is int64 when the model contains an ``Embedding`` anywhere (token ids),
    else the dtype of the model's parameters; ``dtype=`` overrides (and is what to
    pass when that guess is wrong: the error says so).  The pass runs in eval mode
    (no dropout, no random draws) under ``no_grad``; every module's mode is restored.
    """
    named = list(module.named_modules())
    outputs: dict[int, tuple | None] = {}

    def record(name):
        def hook(mod, inputs, output):
            outputs.setdefault(name, _first_shape(output))  # first call wins
        return hook

    handles = [sub.register_forward_hook(record(name)) for name, sub in named]
    modes = [(sub, sub.training) for _, sub in named]
    input_dtype = dtype or _input_dtype(module)
    x = creation.zeros(tuple(input_shape), dtype=input_dtype, device=_device(module))
    try:
        module.eval()
        with no_grad():
            module(x)
    except Exception as err:
        raise RuntimeError(
            f"summary: the forward pass on zeros of shape {tuple(input_shape)} and dtype "
            f"{input_dtype} failed ({type(err).__name__}: {err}); if the model expects "
            "another input dtype, pass it: summary(input_shape, dtype=...)") from err
    finally:
        for handle in handles:
            handle.remove()
        for sub, mode in modes:
            sub.training = mode

    rows = []
    for name, sub in named:
        own = sum(p.numel() for p in sub._parameters.values() if p is not None)
        if name == "" and own == 0:
            continue  # the model itself is listed only if it owns parameters directly
        shape = outputs.get(name)
        rows.append((f"{name or '(root)'} ({type(sub).__name__})",
                     "--" if shape is None else str(shape), f"{own:,}"))
    total = module.num_parameters()
    trainable = module.num_parameters(trainable_only=True)
    return _table(type(module).__name__, rows, total, trainable)


def _first_shape(output) -> tuple | None:
    """The shape of the first Tensor in ``output`` (a Tensor or nested tuples/lists)."""
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        for item in output:
            shape = _first_shape(item)
            if shape is not None:
                return shape
    return None


def _input_dtype(module: Module):
    from .layers import Embedding

    if any(isinstance(sub, Embedding) for sub in module.modules()):
        return dtypes.int64
    for param in module.parameters():
        if param.dtype.kind == "f":
            return param.dtype
    return dtypes.get_default_dtype()


def _device(module: Module) -> str:
    for param in module.parameters():
        return param.device
    return "cpu"


def _table(title: str, rows: list, total: int, trainable: int) -> str:
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]

    def line(cells):
        return (f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                f"{cells[2]:>{widths[2]}}")

    width = len(line(header))
    text = "\n".join([
        f'Model: "{title}"',
        "-" * width,
        line(header),
        "=" * width,
        *(line(r) for r in rows),
        "=" * width,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "-" * width,
    ])
    print(text)
    return text
