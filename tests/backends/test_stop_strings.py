"""Stop strings, cut the same way by every backend."""

from __future__ import annotations

from vertex_batch.local.backends.base import cut_at_stop


def test_cut_at_stop_cuts_at_the_first_stop_string_in_the_text() -> None:
    assert cut_at_stop("xabcy", ("bc", "ab")) == "x"
    assert cut_at_stop("no stop here", ("", "STOP")) == "no stop here"
