"""``einsum``: one node for any explicit-output contraction.

The op sees equations already normalized by ``minigrad.functions.einsum``: one
subscript string per operand (letters only: ``...`` expanded, sizes broadcast), an
explicit output, every letter of one size.

Backward for operand ``k`` is another einsum: the other operands and the output
gradient contracted onto ``k``'s subscripts.  Two cases need constants:

* a letter repeated inside operand ``k`` (``'ii->i'``: a diagonal) -- the gradient
  lives on that diagonal; the repeats get fresh letters tied by identity matrices
  (``delta``), because an einsum output may not repeat a letter;
* a letter only operand ``k`` has (``'ij->i'`` sums ``j`` away) -- the gradient is
  constant along it; a ones vector carries the letter into the output.
"""

from __future__ import annotations

import string

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import _is_tensor

LETTERS = string.ascii_letters


def _einsum(inputs: tuple, output: str, operands: list):
    """Evaluate on arrays or (under create_graph) on Tensors."""
    if any(_is_tensor(o) for o in operands):
        cls = type(next(o for o in operands if _is_tensor(o)))
        operands = [o if _is_tensor(o) else cls._make(o) for o in operands]
        return Einsum.apply(*operands, inputs=inputs, output=output)
    xp = get_array_module(operands[0])
    equation = ",".join(inputs) + "->" + output
    return xp.einsum(equation, *operands, optimize=len(operands) > 2)


class Einsum(Op):
    """``einsum(','.join(inputs) + '->' + output, *operands)``."""

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        ctx.save_for_backward(*operands)
        ctx.subscripts, ctx.output = inputs, output  # (ctx.inputs: the graph's edges)
        ctx.sizes = {c: n for sub, op in zip(inputs, operands) for c, n in zip(sub, op.shape)}
        return _einsum(inputs, output, list(operands))

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            grads.append(_operand_grad(ctx, operands, grad, k) if need else None)
        return tuple(grads)


def _operand_grad(ctx, operands, grad, k: int):
    inputs, sizes = ctx.subscripts, ctx.sizes
    data = grad.data if _is_tensor(grad) else grad
    xp = get_array_module(data)
    dtype = data.dtype
    subs = [s for j, s in enumerate(inputs) if j != k] + [ctx.output]
    args = [o for j, o in enumerate(operands) if j != k] + [grad]
    used = set("".join(inputs) + ctx.output)
    fresh = (c for c in LETTERS if c not in used)
    target, seen = [], set()
    for c in inputs[k]:
        if c in seen:  # a repeat: a new letter, tied to the first by delta_{c c'}
            new = next(fresh)
            subs.append(c + new)
            args.append(xp.eye(sizes[c], dtype=dtype))
            target.append(new)
        else:
            seen.add(c)
            target.append(c)
    elsewhere = set("".join(subs))
    for c in seen:
        if c not in elsewhere:  # summed away in the forward: broadcast back
            subs.append(c)
            args.append(xp.ones(sizes[c], dtype=dtype))
    return _einsum(tuple(subs), "".join(target), args)
