"""The look shared by every figure: the colour-blind-safe palette, colours by role, greys, and
how user text is put into a plotly label.

A leaf of :mod:`dashboard` (no figure is built here), imported by :mod:`dashboard.figures` and
:mod:`dashboard.figures_summary`.

References
----------
.. [1] Okabe M, Ito K (2008). Color Universal Design (CUD): how to make figures and presentations
   that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import html
from typing import Final

from hrv.validate import LONGEST_BEAT_S

__all__ = [
    "BAND_COLOUR",
    "CUE_COLOUR",
    "DASH_TEXT",
    "EXTRA_COLOURS",
    "GREY",
    "MARKER_COLOUR",
    "MAX_BRIDGE_S",
    "OKABE_ITO",
    "RIBBON_FILLS",
    "RIBBON_Y",
    "ROLE_COLOURS",
    "S_PER_MIN",
    "plain_text",
]

#: Okabe-Ito palette (name -> hex).
OKABE_ITO: Final[dict[str, str]] = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
#: Line colour by role; any further person takes the next colour of :data:`EXTRA_COLOURS`.
ROLE_COLOURS: Final[dict[str, str]] = {
    "patient": OKABE_ITO["blue"],
    "therapist": OKABE_ITO["orange"],
}
EXTRA_COLOURS: Final[tuple[str, ...]] = (
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
)
GREY: Final[str] = "#8C8C8C"
MARKER_COLOUR: Final[str] = OKABE_ITO["reddish_purple"]
CUE_COLOUR: Final[str] = OKABE_ITO["bluish_green"]
BAND_COLOUR: Final[str] = OKABE_ITO["sky_blue"]
RIBBON_FILLS: Final[tuple[str, str]] = ("#DCEAF5", "#F3E6CC")
#: Largest time between two beats that a line may bridge, s (the longest plausible beat).
MAX_BRIDGE_S: Final[float] = LONGEST_BEAT_S
S_PER_MIN: Final[float] = 60.0
#: Paper-coordinate band of the phase ribbon above the plots.
RIBBON_Y: Final[tuple[float, float]] = (1.015, 1.075)
#: Shown instead of a bar or a value that could not be computed.
DASH_TEXT: Final[str] = "\u2013"


def plain_text(text: object) -> str:
    """User text (phase labels, marker notes, codes) as literal text in a plotly label.

    plotly.js reads a subset of HTML in every text it draws (``<a href>``, ``<span style>``,
    ``<br>``); a note such as ``<a href="https://x.example">`` would become a live link.
    Escaping ``&``, ``<``, ``>`` and quotes shows the characters instead (plotly decodes these
    entities).

    Examples
    --------
    >>> plain_text('<a href="https://x.example">go</a>')
    '&lt;a href=&quot;https://x.example&quot;&gt;go&lt;/a&gt;'
    """
    return html.escape(str(text), quote=True)
