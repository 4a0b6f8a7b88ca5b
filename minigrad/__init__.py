"""minigrad: a PyTorch-style autograd framework over NumPy (CPU) and CuPy (GPU).

    import minigrad as mg
    x = mg.randn(3, 4, requires_grad=True)
    (x.tanh() * 2).sum().backward()
    x.grad  # d/dx sum(2 tanh x) = 2 (1 - tanh^2 x)
"""

from . import autograd, backend, nn, optim
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import cuda_is_available
from .creation import (
    arange,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    zeros,
    zeros_like,
)
from .dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int32,
    int64,
    long,
    set_default_dtype,
)
from .functions import (
    abs,
    addmm,
    argmax,
    cat,
    chunk,
    clamp,
    exp,
    flatten,
    is_tensor,
    log,
    log_softmax,
    max,
    mean,
    min,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    sum,
    tanh,
    transpose,
    unbind,
    unsqueeze,
    var,
    where,
)
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor, matmul, tensor

bool = bool_  # noqa: A001  (mg.bool, as torch.bool)

__version__ = "0.1.0"


class cuda:  # noqa: N801  (mg.cuda.is_available(), as torch.cuda)
    is_available = staticmethod(cuda_is_available)
