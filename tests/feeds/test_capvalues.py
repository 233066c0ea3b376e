"""Polygons converted in bulk give exactly what the point-by-point reading gives, faults included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.feeds.capvalues import _COMMA_SPACE, parse_point, parse_polygon
from alerts.feeds.safexml import Rejected


def point_by_point(text: str) -> list[tuple[float, float]]:
    """The reading before bulk conversion: the reference the fast path must agree with."""
    if "," in text:
        text = _COMMA_SPACE.sub(",", text)
    return [parse_point(pair, "polygon") for pair in text.split()]


def outcome(read, text: str) -> object:  # type: ignore[no-untyped-def]
    try:
        return read(text)
    except Rejected as exc:
        return ("rejected", exc.reason)


@pytest.mark.parametrize("text", [
    "", "   ", "1,2 3,4 5,6 1,2", "  1,2\n3,4\t5,6  ", "90,180 -90,-180 0,0", "1e1,2 3,4",
    "1,2,3 4", "1,2 3", "1, 2 3, 4", "1 ,2", ",1 2,", "a,b c,d", "nan,0 0,0", "inf,0 0,0", "0,NaN",
    "91,0 0,0", "0,181 0,0", "-90.0001,0", "1,,2 3,4", "1,2,,3,4", "+1,-2 3_0,4",
])
def test_bulk_and_point_by_point_agree(text: str) -> None:
    assert outcome(parse_polygon, text) == outcome(point_by_point, text)


def test_a_fault_is_still_named_with_its_point() -> None:
    with pytest.raises(Rejected, match=r"point '91,0' is outside latitude"):
        parse_polygon("1,1 2,2 91,0 1,1")
    with pytest.raises(Rejected, match=r"point '2,3' is not 'latitude,longitude'|point '1,2,3'"):
        parse_polygon("1,2,3 4,5")


_NUMBER = st.one_of(
    st.floats(min_value=-200, max_value=200, allow_nan=False).map(lambda f: f"{f:.4f}"),
    st.sampled_from(["nan", "inf", "-0", "1e2", "", "x", "90", "-180.0", "1_0"]),
)
_TOKEN = st.one_of(
    st.tuples(_NUMBER, _NUMBER).map(",".join),
    st.tuples(_NUMBER, _NUMBER, _NUMBER).map(",".join),
    _NUMBER,
)


@given(st.lists(_TOKEN, max_size=8), st.sampled_from([" ", "  ", "\n", " , "]))
def test_bulk_and_point_by_point_agree_on_any_tokens(tokens: list[str], sep: str) -> None:
    text = sep.join(tokens)
    assert outcome(parse_polygon, text) == outcome(point_by_point, text)
