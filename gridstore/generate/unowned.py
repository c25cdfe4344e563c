"""Views of arrays that numba does not reference-count, for the kernel's inner calls.

Each array an inlined numba function takes is bound to a new variable, and
numba counts that reference with an atomic increment and decrement. Its
pruning pass removes few of these pairs in `draw_image`'s loops: they were
a third of the kernel's time, 80 pairs an image (docs/internals.md,
"numba's reference counts"). A view made by ``numba.carray`` from the
array's address has no owner to count, so the pairs cost a null check.

The caller must keep the array alive while the view is used: pass views
where the owner is used after them too (in the same loop), or where the
owner belongs to the caller's caller.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["unowned"]

_NOT_CONTIGUOUS = "unowned: the array must be C-contiguous"


@intrinsic
def _as_pointer(typingctx: Any, address: Any, dtype: Any) -> Any:
    """An integer address as a pointer to ``dtype``'s scalars."""
    target = types.CPointer(dtype.dtype)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(target))

    return target(address, dtype), codegen


def unowned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous array's data as an array without a reference count (``a`` must outlive it).

    Compiled, a view of ``a``'s memory; in Python (numba's JIT off), ``a`` itself.
    """
    if not a.flags.c_contiguous:
        raise ValueError(_NOT_CONTIGUOUS)
    return a


@overload(unowned)
def _unowned_compiled(a):  # no annotations: numba matches this signature to view's
    def view(a):
        if not a.flags.c_contiguous:  # carray would read it as if it were
            raise ValueError(_NOT_CONTIGUOUS)
        return numba.carray(_as_pointer(a.ctypes.data, a.dtype), a.shape)

    return view
