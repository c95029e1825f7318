"""The per-session cap on ``beats`` messages: a token bucket on an explicit clock.

A message takes a token; tokens come back at ``rate`` per second up to ``capacity``. So at most
``rate`` messages per second on average and ``capacity + rate * T`` in any interval of ``T``
seconds; messages are sent at once while the rate stays below the cap and evenly spaced
(``1 / rate`` apart) when beats come faster (the caller coalesces what arrives meanwhile). The
bucket starts full. Times are whatever monotonic clock the caller passes (the hub passes its
event loop's time), so the bucket is tested without sleeping.
"""

from __future__ import annotations

import math

from hrv.errors import ParameterError

__all__ = ["TokenBucket", "default_capacity"]


def default_capacity(rate_per_s: float) -> int:
    """The bucket's capacity for a rate: ``ceil(rate / 2)``, at least 1 (2 for 4 per second).

    Examples
    --------
    >>> default_capacity(4.0), default_capacity(0.5), default_capacity(50.0)
    (2, 1, 25)
    """
    return max(1, math.ceil(rate_per_s / 2.0))


class TokenBucket:
    """A token bucket of ``capacity`` tokens refilled at ``rate_per_s``.

    Parameters
    ----------
    rate_per_s : float
        Tokens per second (> 0).
    capacity : int, optional
        Most tokens held (default :func:`default_capacity`).

    Examples
    --------
    >>> b = TokenBucket(4.0)  # capacity 2
    >>> b.wait(0.0), b.take(0.0), b.take(0.0), b.wait(0.0)
    (0.0, None, None, 0.25)
    >>> b.wait(0.25)
    0.0
    """

    __slots__ = ("_t", "capacity", "rate_per_s", "tokens")

    def __init__(self, rate_per_s: float, capacity: int | None = None) -> None:
        if not rate_per_s > 0:
            raise ParameterError(f"the rate must be > 0 per second, got {rate_per_s!r}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = default_capacity(rate_per_s) if capacity is None else int(capacity)
        if self.capacity < 1:
            raise ParameterError(f"the capacity must be >= 1, got {capacity!r}")
        self.tokens = math.inf  # full at the start (clamped to the capacity at the first use)
        self._t = -math.inf

    def wait(self, now: float) -> float:
        """Seconds from ``now`` before a token is available (0: one is there now)."""
        elapsed = max(0.0, now - self._t)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.rate_per_s)
        self._t = max(self._t, now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate_per_s

    def take(self, now: float) -> None:
        """Take a token at ``now`` (refilled first; the count may go below zero)."""
        self.wait(now)
        self.tokens -= 1.0
