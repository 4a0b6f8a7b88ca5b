"""Shared fixtures for the test suite.

* ``device``: parametrizes a test over ``'cpu'`` and ``'cuda'``; the CUDA case is
  skipped cleanly when ``mg.cuda.is_available()`` is False (no CuPy or no GPU).
* ``rng``: a seeded NumPy generator, fresh for every test.
* every test starts and ends with minigrad's global switches at their defaults
  (default dtype float32, grad mode on), whatever the test changed.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

CUDA_AVAILABLE = mg.cuda.is_available()
requires_cuda = pytest.mark.skipif(not CUDA_AVAILABLE,
                                   reason="CUDA not available (needs CuPy and a GPU)")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=requires_cuda)])
def device(request) -> str:
    """Each device minigrad supports; 'cuda' skips without a GPU."""
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_global_state():
    dtype, enabled = mg.get_default_dtype(), mg.is_grad_enabled()
    yield
    mg.set_default_dtype(dtype)
    mg.set_grad_enabled(enabled)
