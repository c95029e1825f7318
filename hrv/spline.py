"""Not-a-knot cubic spline interpolation (MATLAB ``spline``), numpy and a banded solve.

The 4 Hz tachogram (:func:`hrv.frequency.resample_rr`) and artifact correction
(:mod:`hrv.artifacts`) both interpolate with the interpolating cubic spline with not-a-knot end
conditions, the spline Kubios HRV uses. This module computes it directly (one tridiagonal solve
for the knot slopes, then a Hermite evaluation) so that the command line does not import
:mod:`scipy.interpolate`, whose import pulls in most of scipy (about half a second of start-up).
Values equal :class:`scipy.interpolate.CubicSpline` with ``bc_type="not-a-knot"`` to rounding
(tested).

References
----------
de Boor, C. (1978). A Practical Guide to Splines. Springer, chapter IV (not-a-knot condition).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_banded

from hrv.errors import ParameterError

__all__ = ["not_a_knot_spline"]


def _slopes(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Knot slopes of the not-a-knot cubic spline through at least 4 points."""
    dx = np.diff(x)
    m = np.diff(y) / dx
    n = x.shape[0]
    ab = np.zeros((3, n))  # banded (1, 1): ab[0] upper, ab[1] main, ab[2] lower diagonal
    b = np.empty(n)
    # interior: dx_i s_{i-1} + 2 (dx_{i-1} + dx_i) s_i + dx_{i-1} s_{i+1}
    #           = 3 (dx_i m_{i-1} + dx_{i-1} m_i)
    ab[1, 1:-1] = 2.0 * (dx[:-1] + dx[1:])
    ab[0, 2:] = dx[:-1]
    ab[2, :-2] = dx[1:]
    b[1:-1] = 3.0 * (dx[1:] * m[:-1] + dx[:-1] * m[1:])
    # not-a-knot: the third derivative is continuous at x_1 and at x_{n-2}
    d0 = x[2] - x[0]
    ab[1, 0] = dx[1]
    ab[0, 1] = d0
    b[0] = ((dx[0] + 2.0 * d0) * dx[1] * m[0] + dx[0] ** 2 * m[1]) / d0
    d1 = x[-1] - x[-3]
    ab[1, -1] = dx[-2]
    ab[2, -2] = d1
    b[-1] = (dx[-1] ** 2 * m[-2] + (2.0 * d1 + dx[-1]) * dx[-2] * m[-1]) / d1
    slopes: NDArray[np.float64] = solve_banded(
        (1, 1), ab, b, overwrite_ab=True, overwrite_b=True, check_finite=False
    )
    return slopes


def not_a_knot_spline(
    x: NDArray[np.float64], y: NDArray[np.float64], xq: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Values at ``xq`` of the not-a-knot cubic spline through ``(x, y)``.

    Parameters
    ----------
    x : numpy.ndarray
        Strictly increasing knot abscissae, at least 4.
    y : numpy.ndarray
        Knot values, same length.
    xq : numpy.ndarray
        Query abscissae; outside ``[x_0, x_{n-1}]`` the end pieces are extrapolated.

    Returns
    -------
    numpy.ndarray
        Spline values at ``xq``, float64.

    Raises
    ------
    ValueError
        If fewer than 4 knots are given.

    Notes
    -----
    The knot slopes ``s_i`` solve the tridiagonal system of C2 continuity with the not-a-knot
    end conditions (the first two and the last two pieces are one cubic each); each piece is then
    the cubic Hermite polynomial ``y_i + s_i t + c_i t^2 + d_i t^3`` with
    ``c_i = (3 m_i - 2 s_i - s_{i+1}) / h_i`` and ``d_i = (s_i + s_{i+1} - 2 m_i) / h_i^2``,
    ``m_i`` the secant slope and ``h_i`` the width of piece i. O(N) time and memory.

    References
    ----------
    de Boor, C. (1978). A Practical Guide to Splines. Springer.

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    >>> round(float(not_a_knot_spline(x, x**3, np.array([2.5]))[0]), 9)  # a cubic is reproduced
    15.625
    """
    if x.shape[0] < 4:
        raise ParameterError(f"a not-a-knot cubic spline needs at least 4 knots, got {x.shape[0]}")
    s = _slopes(x, y)
    h = np.diff(x)
    m = np.diff(y) / h
    i = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.shape[0] - 2)
    t = xq - x[i]
    hi = h[i]
    c2 = (3.0 * m[i] - 2.0 * s[i] - s[i + 1]) / hi
    c3 = (s[i] + s[i + 1] - 2.0 * m[i]) / (hi * hi)
    out: NDArray[np.float64] = y[i] + t * (s[i] + t * (c2 + t * c3))
    return out
