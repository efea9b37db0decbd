"""Float -> integer quantization exactly as the interpreters' QUANTIZE kernel does it (numpy only).

What the kernel computes was measured, not assumed (tests/export/test_quantize.py runs the interpreter's
own QUANTIZE op on edge values): q = clamp(rint(x * (1 / scale)) + zero_point), with x, the
reciprocal 1.0f / scale and their product in float32, and rint rounding halves to even. That is the
optimized kernel that ai-edge-litert and tensorflow.lite run by default (tensorflow/lite/kernels/
internal/optimized: a float32 multiply by the reciprocal scale, then a round-to-nearest-even
conversion). The reference kernel (reference/quantize.h, `AffineQuantize`; tflite-micro) divides
and rounds halves away from zero instead: the two differ only on exact ties. Dividing in float64
(the old np.round(x / scale)) disagrees with the interpreter next to halves.

`quantize` is the rule for arrays; `ScalarQuantizer` is the same rule for one Python float, for
the per-step hot loop where numpy array calls would cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np


def _reciprocal(scale: float) -> np.float32:
    return np.float32(1.0) / np.float32(scale)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Model-unit floats (any shape) -> integers of `dtype` (int8, int16...), same shape.

    Halves round to even; values beyond the dtype's range clamp to it."""
    t = (np.asarray(x, dtype=np.float32) * _reciprocal(scale)).astype(np.float64)  # float32 product, widened exactly
    info = np.iinfo(dtype)
    return np.clip(np.rint(t) + zero_point, info.min, info.max).astype(dtype)


class ScalarQuantizer:
    """`quantize` for one float -> a Python int, without a numpy array per call (the hot loop).

    Fast path in float64: x * (1 / scale) lies within 2**-23 * |t| of the float32 computation,
    under 0.01 wherever the result is not clamped (|t| < 2**16 covers int8 and int16), so unless
    it is within 0.01 of a half the nearest integer is the same; near a half the float32
    arithmetic decides, exactly as the kernel does it."""

    def __init__(self, scale: float, zero_point: int, dtype: np.dtype) -> None:
        info = np.iinfo(dtype)
        self._inv32 = _reciprocal(scale)
        self._inv = float(self._inv32)
        self._zp, self._lo, self._hi = int(zero_point), int(info.min), int(info.max)
        # |x| beyond this is beyond every integer dtype (and float32 stays finite below it)
        self._big = float(2**31) * float(scale)
        # t = x / scale strictly inside (lo - zp, hi - zp) needs no clamp; NaN fails the test too
        self._t_lo, self._t_hi = float(self._lo - self._zp), float(self._hi - self._zp)

    def __call__(self, x: float) -> int:
        t = x * self._inv
        if self._t_lo < t < self._t_hi:  # the per-step case: in range, not NaN: two comparisons
            q = round(t)
            if abs(t - q) < 0.49:
                return q + self._zp
        return self._slow(x)

    def _slow(self, x: float) -> int:
        """Near a half, at the ends of the range, or not finite."""
        if not abs(x) < self._big:  # far out of range, inf or NaN: saturate, as the kernel clamps
            return self._hi if x > 0.0 else self._lo
        t = x * self._inv
        q = round(t)
        if not abs(t - q) < 0.49:  # near a half: the float32 product decides (Python's round: to even)
            q = round(float(np.float32(x) * self._inv32))
        q += self._zp
        return self._lo if q < self._lo else self._hi if q > self._hi else q
