"""``nn.MultiheadAttention``: PyTorch's layer, parameter layout and masking rules.

Built from differentiable ops (linear projections, batched ``matmul``, softmax,
additive masks), so autograd gives every gradient.  The computation follows
``torch.nn.functional.multi_head_attention_forward`` step by step:

1. project ``query``/``key``/``value`` (``in_proj_weight`` rows ``[0:E]``, ``[E:2E]``,
   ``[2E:3E]``, or the separate ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ);
2. split the ``E`` features into ``num_heads`` heads of ``E / num_heads``;
3. scores ``q k^T / sqrt(head_dim)`` plus the masks (``attn_mask``; ``key_padding_mask``
   broadcast over heads and queries), softmax over the keys, dropout;
4. weights times values, heads joined back, ``out_proj``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..functions import cat
from ..tensor import Tensor
from . import functional as F
from . import init
from .layers import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al.): ``MultiheadAttention(embed_dim, num_heads,
    dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None,
    vdim=None, batch_first=False)``.

    Inputs ``query`` ``(L, N, E)``, ``key`` ``(S, N, kdim)``, ``value`` ``(S, N, vdim)``
    (``(N, L, E)`` ... with ``batch_first``; unbatched ``(L, E)``, ``(S, kdim)``,
    ``(S, vdim)``).  Returns ``(attn_output, attn_weights)``: ``(L, N, E)`` and, with
    ``need_weights``, ``(N, L, S)`` averaged over heads (``(N, num_heads, L, S)`` with
    ``average_attn_weights=False``), else None.

    Parameters, as PyTorch's: ``in_proj_weight`` ``(3E, E)`` (xavier-uniform) or
    ``q_proj_weight`` ``(E, E)``, ``k_proj_weight`` ``(E, kdim)``, ``v_proj_weight``
    ``(E, vdim)``; ``in_proj_bias`` ``(3E,)`` (zeros); ``bias_k``/``bias_v``
    ``(1, 1, E)`` with ``add_bias_kv``; ``out_proj`` a ``Linear(E, E)`` (bias zeros).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0,
                 bias: bool = True, add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: str | None = None, dtype: np.dtype | type | str | None = None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads != 0:
            raise AssertionError(f"embed_dim must be divisible by num_heads (got embed_dim="
                                 f"{embed_dim}, num_heads={num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = empty(1, 1, embed_dim)
            self.bias_v = empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's init: xavier-uniform projections, zero biases, xavier-normal
        ``bias_k``/``bias_v`` (``out_proj.weight`` keeps ``Linear``'s init)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attention of ``query`` over ``key``/``value`` -> ``(attn_output,
        attn_weights)``.

        ``key_padding_mask`` ``(N, S)`` (unbatched ``(S,)``): True (bool) marks keys to
        ignore; a float mask is added to the scores.  ``attn_mask`` ``(L, S)`` or
        ``(N * num_heads, L, S)`` (unbatched: ``(num_heads, L, S)``): True (bool) blocks
        an attention; float is added.  ``is_causal`` is a hint that ``attn_mask`` is the
        causal mask (it is required and used as given).
        """
        batched = self._check_shapes(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the "
                "Transformer module method `generate_square_subsequent_mask` to create "
                "this mask.")
        if self.batch_first and batched:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if not batched:  # a batch of one, dim 1
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        output, weights = self._attention(query, key, value, key_padding_mask, need_weights,
                                          attn_mask, average_attn_weights)
        if not batched:
            output = output.squeeze(1)
            weights = weights.squeeze(0) if weights is not None else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, weights

    def _check_shapes(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        """PyTorch's ``_mha_shape_check``; returns whether the input is batched."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention: {name} must be a Tensor, got "
                                f"{type(t).__name__}")
        if query.ndim == 3:
            if key.ndim != 3 or value.ndim != 3:
                raise AssertionError(
                    "For batched (3-D) `query`, expected `key` and `value` to be 3-D but "
                    f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
            if key_padding_mask is not None and key_padding_mask.ndim != 2:
                raise AssertionError(
                    "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or "
                    f"2-D but found {key_padding_mask.ndim}-D tensor instead")
            if attn_mask is not None and attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                    f"3-D but found {attn_mask.ndim}-D tensor instead")
            return True
        if query.ndim == 2:
            if key.ndim != 2 or value.ndim != 2:
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but "
                    f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
            if key_padding_mask is not None and key_padding_mask.ndim != 1:
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` "
                    f"or 1-D but found {key_padding_mask.ndim}-D tensor instead")
            if attn_mask is not None:
                if attn_mask.ndim not in (2, 3):
                    raise AssertionError(
                        "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D "
                        f"or 3-D but found {attn_mask.ndim}-D tensor instead")
                if attn_mask.ndim == 3:
                    expected = (self.num_heads, query.shape[0], key.shape[0])
                    if tuple(attn_mask.shape) != expected:
                        raise AssertionError(f"Expected `attn_mask` shape to be {expected} "
                                             f"but got {tuple(attn_mask.shape)}")
            return False
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")

    def _attention(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                   average_attn_weights):
        """Time-first ``(L, N, E)`` inputs -> ``((L, N, E) output, weights or None)``."""
        tgt_len, bsz, embed_dim = query.shape
        E, H, head_dim = self.embed_dim, self.num_heads, self.head_dim
        if embed_dim != E:
            raise AssertionError(f"was expecting embedding dimension of {E}, but got "
                                 f"{embed_dim}")
        if self._qkv_same_embed_dim:
            if tuple(key.shape) != tuple(value.shape):
                raise AssertionError(f"key shape {tuple(key.shape)} does not match value "
                                     f"shape {tuple(value.shape)}")
        elif tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do "
                                 f"not match value's {tuple(value.shape[:2])}")
        if key.shape[1] != bsz:
            raise AssertionError(f"key's batch size {key.shape[1]} does not match query's "
                                 f"{bsz}")
        for name, t, size in (("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != size:
                raise AssertionError(f"was expecting {name} embedding dimension of {size}, "
                                     f"but got {t.shape[-1]}")
        src_len = key.shape[0]
        attn_mask = F._attention_bias(attn_mask, query, "MultiheadAttention", False)
        key_padding_mask = F._attention_bias(key_padding_mask, query, "MultiheadAttention",
                                             False)
        if attn_mask is not None:
            if attn_mask.ndim == 2:
                if tuple(attn_mask.shape) != (tgt_len, src_len):
                    raise RuntimeError(f"The shape of the 2D attn_mask is "
                                       f"{tuple(attn_mask.shape)}, but should be "
                                       f"{(tgt_len, src_len)}.")
                attn_mask = attn_mask.unsqueeze(0)
            elif tuple(attn_mask.shape) != (bsz * H, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, "
                                   f"but should be {(bsz * H, tgt_len, src_len)}.")
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but "
                                 f"got {tuple(key_padding_mask.shape)}")

        # 1. input projections
        q, k, v = self._in_projection(query, key, value)
        if self.bias_k is not None:  # one more key/value, seen by every query
            k = cat([k, self.bias_k.expand(1, bsz, E)])
            v = cat([v, self.bias_v.expand(1, bsz, E)])
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        # 2. heads: (seq, N, E) -> (N * H, seq, head_dim)
        q = q.reshape(tgt_len, bsz * H, head_dim).transpose(0, 1)
        k = k.reshape(k.shape[0], bsz * H, head_dim).transpose(0, 1)
        v = v.reshape(v.shape[0], bsz * H, head_dim).transpose(0, 1)
        if self.add_zero_attn:  # and a zero key/value
            zeros = creation.zeros(bsz * H, 1, head_dim, dtype=q.dtype, device=q.device)
            k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        src_len = k.shape[1]
        # 3. masks merged into one additive bias (N * H, L or 1, S)
        if key_padding_mask is not None:
            padding = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(
                bsz, H, 1, src_len).reshape(bsz * H, 1, src_len)
            attn_mask = padding if attn_mask is None else attn_mask + padding
        dropout_p = self.dropout if self.training else 0.0
        output, weights = F._attend(q, k, v, attn_mask, dropout_p, 1.0 / math.sqrt(head_dim),
                                    safe=not need_weights)
        # 4. heads joined, output projection
        output = output.transpose(0, 1).reshape(tgt_len * bsz, E)
        output = self.out_proj(output).reshape(tgt_len, bsz, E)
        if not need_weights:
            return output, None
        weights = weights.reshape(bsz, H, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        return output, weights

    def _in_projection(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        b_q, b_k, b_v = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            w_q, w_k, w_v = w[:E], w[E:2 * E], w[2 * E:]
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return (F.linear(query, w_q, b_q), F.linear(key, w_k, b_k),
                F.linear(value, w_v, b_v))


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """A mask with one more (zero: unmasked) column at the end of its last dim."""
    if mask is None:
        return None
    zeros = creation.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return cat([mask, zeros], dim=-1)
