"""How far a token's time may lie from its entry's own time."""

from __future__ import annotations

import datetime as dt

#: Clocks differ: a token up to this much before its entry's ``at`` is accepted.
SKEW = dt.timedelta(minutes=2)
#: A token within this long after its entry's ``at`` was taken as the entry was written;
#: a later one must be named by a ``timestamped`` act (stamped late, and said so).
ON_TIME = dt.timedelta(minutes=10)
#: The stamper leaves an entry older than this untimestamped rather than stamp it late
#: without saying so (``chainproof timestamp`` then stamps it, recorded as late).
STAMP_UNTIL = ON_TIME - dt.timedelta(minutes=1)
