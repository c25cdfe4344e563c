"""Views without reference counts: the same memory as their array, and only of contiguous ones."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from gridstore.generate.unowned import unowned


@numba.njit
def _write_through(a):
    v = unowned(a)
    v.ravel()[-1] = 7
    return v.shape


def test_a_view_is_its_arrays_memory() -> None:
    for a in (np.zeros(5, np.int64), np.zeros((4, 3), np.uint8), np.zeros(2, np.uint64)):
        assert _write_through(a) == a.shape
        assert a.ravel()[-1] == 7 and not a.ravel()[:-1].any()


def test_a_strided_array_is_refused() -> None:
    with pytest.raises(ValueError, match="C-contiguous"):
        _write_through(np.zeros(6, np.int64)[::2])
    with pytest.raises(ValueError, match="C-contiguous"):  # in Python too (the JIT off)
        unowned(np.zeros((3, 4), np.uint8)[:, 1:])


def test_in_python_it_is_the_array_itself() -> None:
    a = np.zeros(3)
    assert unowned(a) is a
