"""Hostile input for the security tests: strings that break naive JSON, templates, markdown,
email headers or encoders, and any JSON value built from them."""

from __future__ import annotations

from hypothesis import strategies as st

NASTY_STRINGS = [
    "",
    " ",
    '"',
    "'\"{}[]\\",
    '{"type": "AdaptiveCard"}',
    "}}{{ raw }}{% if %}",
    "\\u0000\\n",
    "\x00\x01\x1f\x7f",
    "\r\nBcc: attacker@example.com\r\n",
    "<script>alert(1)</script>",
    "<at>ICE Downtime</at>",
    "**bold** _it_ [link](javascript:alert(1)) ![img](http://x/y.png) `code`",
    "# heading\n- list\n1. item\n> quote",
    "\ud800",  # lone surrogate: valid JSON escape, not encodable as UTF-8
    "\udfff\ud800x",
    "\U0001f600\u202e\u200b\ufeff",
    "\u0301" * 50,
    "%s %d {0} {text}",
    "help" + "\u0000",
]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(NASTY_STRINGS),
)
#: Any JSON value (nested lists and objects) with `NASTY_STRINGS` among its leaves.
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)

__all__ = ["NASTY_STRINGS", "json_values"]
