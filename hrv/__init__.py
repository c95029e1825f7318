"""Pure heart-rate-variability maths: RR intervals (float64 ms) in, numbers and arrays out.

No I/O, no clock, no logging, no framework types (see DESIGN.md).
"""

from hrv.errors import InsufficientDataError, InvalidRRError, SintoniaError
from hrv.validate import validate_rr

__all__ = ["InsufficientDataError", "InvalidRRError", "SintoniaError", "validate_rr"]
