"""Whether a failed POST may have run on the server anyway: the question every retry of a side effect asks.

A 4xx (a 429 included) is the server's word that it did not act. No answer at all (a timeout, a dropped
connection after the request left), a 5xx (a proxy's 502 may hide a committed request) or a success whose
body cannot be read leaves it open, and so does anything this module does not know: the safe guess is
"maybe", which costs a wait, where "no" could cost a second charge.
"""

from __future__ import annotations

from reelmirror.errors import MalformedResponseError, ReelMirrorError, TransportError

__all__ = ["may_have_committed"]


def may_have_committed(exc: BaseException) -> bool:
    """True unless `exc` proves the request was never acted on."""
    if isinstance(exc, TransportError):
        return exc.may_have_committed
    if isinstance(exc, MalformedResponseError):
        return True
    if isinstance(exc, ReelMirrorError) and exc.status is not None:
        return exc.status >= 500
    return True
