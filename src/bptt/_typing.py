"""The array types in the annotations of bptt's public API.

``FloatArray`` is what bptt hands back: a float32 or float64 numpy array
(every module keeps one dtype for life). ``ArrayLike`` is what the validating
entry points accept: numpy arrays, nested lists, and torch CPU tensors
(through their numpy view). ``DTypeLike`` spells a dtype. Internally the
modules call any ndarray ``Array``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: A float32 or float64 numpy array.
FloatArray = npt.NDArray[np.floating[Any]]
#: Anything numpy can read as an array.
ArrayLike = npt.ArrayLike
#: float32 or float64, as numpy spells a dtype (``np.float32``, ``"float64"``, ...).
DTypeLike = npt.DTypeLike

__all__ = ["ArrayLike", "DTypeLike", "FloatArray"]
