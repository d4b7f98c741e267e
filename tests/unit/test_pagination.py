"""Cursor pagination: opaque cursors that round-trip our ids and refuse anything else with a 400."""

import base64
import datetime
from types import SimpleNamespace

import orjson
import peewee
import pytest

from hookyard.core.errors import BadRequest
from hookyard.core.pagination import _decode_time_cursor, decode_cursor, encode_cursor, paginate, paginate_by_time


def cursor_of(value) -> str:
    """Return a cursor holding any JSON value, the way ours are packed (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def time_cursor(moment: str = "2024-05-01T12:00:00", last_id="evt_1") -> str:
    """Return a time cursor for `moment` and `last_id`, as paginate_by_time makes them."""
    return cursor_of([moment, last_id])


class Row(peewee.Model):
    """A table that is never bound: only its fields are used, to build expressions."""

    id = peewee.CharField(primary_key=True)
    created_at = peewee.DateTimeField()


class FakeQuery:
    """A query that answers the rows it was given, newest first, and remembers its filters."""

    def __init__(self, rows):
        self.rows, self.filters, self.count = rows, [], None

    def where(self, expression):
        self.filters.append(expression)
        return self

    def order_by(self, *fields):
        return self

    def limit(self, count):
        self.count = count
        return self

    def __iter__(self):
        return iter(self.rows[: self.count])


def rows(count: int) -> list:
    start = datetime.datetime(2024, 5, 1, 12, 0, 0)
    return [
        SimpleNamespace(id=f"evt_{count - n}", created_at=start - datetime.timedelta(minutes=n)) for n in range(count)
    ]


def assert_not_ours(cursor: str, decode=decode_cursor):
    with pytest.raises(BadRequest) as caught:
        decode(cursor)
    assert caught.value.code == "invalid_cursor"


@pytest.mark.parametrize("last_id", [1, 42, 0, -7, 2**63 - 1, -(2**63) + 1])
def test_an_int_id_round_trips(last_id):
    assert decode_cursor(encode_cursor(last_id)) == last_id


def test_an_int_id_round_trips_as_an_int():
    assert type(decode_cursor(encode_cursor(42))) is int


@pytest.mark.parametrize("last_id", ["evt_01hzyxw5k6r7s8t9v0w1x2y3z4", "x", "", "Zoë", "a/b+c=d", "x" * 255])
def test_a_string_id_round_trips(last_id):
    assert decode_cursor(encode_cursor(last_id)) == last_id


def test_a_cursor_is_url_safe_without_padding():
    assert set(encode_cursor("evt_?>>~~~")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_cursor_hides_the_id_it_carries():
    assert "evt_123" not in encode_cursor("evt_123")


def test_a_cursor_that_is_not_ours_is_a_400():
    with pytest.raises(BadRequest) as caught:
        decode_cursor("not a cursor")
    assert caught.value.status == 400


def test_a_cursor_that_is_not_ours_answers_invalid_cursor():
    with pytest.raises(BadRequest) as caught:
        decode_cursor("not a cursor")
    assert caught.value.body() == {"error": "invalid_cursor", "message": "The cursor is not one this API returned."}


@pytest.mark.parametrize("cursor", ["", "!!!!", "é", "bm90IGpzb24", "W10", "WzEsMl0", "e30"])
def test_a_garbled_or_foreign_cursor_is_refused(cursor):
    # "bm90IGpzb24" is `not json`, "W10" is `[]`, "WzEsMl0" is `[1,2]`, "e30" is `{}`.
    assert_not_ours(cursor)


def test_a_tampered_cursor_is_refused():
    cursor = encode_cursor(42)
    assert_not_ours(cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1])


@pytest.mark.parametrize(
    "raw", [b"[9223372036854775808]", b"[-9223372036854775809]", b"[18446744073709551615]", b"[18446744073709551616]"]
)
def test_an_id_out_of_bigint_range_is_refused(raw):
    assert_not_ours(base64.urlsafe_b64encode(raw).decode())


@pytest.mark.parametrize("value", [[True], [False], [None], [1.5], [[1]], [{"id": 1}]])
def test_an_id_that_is_not_an_int_or_a_string_is_refused(value):
    assert_not_ours(cursor_of(value))


def test_a_string_id_holding_nul_is_refused():
    assert_not_ours(cursor_of(["evt_\x00"]))


def test_a_string_id_longer_than_255_characters_is_refused():
    assert_not_ours(cursor_of(["x" * 256]))


def test_a_cursor_holding_a_one_key_object_is_refused():
    assert_not_ours(cursor_of({"evt_1": 1}))


def test_a_cursor_holding_a_one_character_string_is_refused():
    assert_not_ours(cursor_of("7"))


def test_a_naive_time_cursor_decodes_to_its_time_and_id():
    assert _decode_time_cursor(time_cursor()) == (datetime.datetime(2024, 5, 1, 12, 0, 0), "evt_1")


def test_an_aware_time_cursor_decodes_to_naive_utc():
    moment, _ = _decode_time_cursor(time_cursor("2024-05-01T14:00:00+02:00"))
    assert moment == datetime.datetime(2024, 5, 1, 12, 0, 0)


def test_an_aware_time_cursor_decodes_without_a_timezone():
    moment, _ = _decode_time_cursor(time_cursor("2024-05-01T14:00:00+02:00"))
    assert moment.tzinfo is None


def test_a_time_cursor_keeps_microseconds():
    moment, _ = _decode_time_cursor(time_cursor("2024-05-01T12:00:00.123456"))
    assert moment.microsecond == 123456


def test_a_time_cursor_may_carry_an_int_id():
    assert _decode_time_cursor(time_cursor(last_id=42))[1] == 42


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(["not a time", "evt_1"]),
        cursor_of([1714564800, "evt_1"]),
        cursor_of(["2024-05-01T12:00:00"]),
        cursor_of(["2024-05-01T12:00:00", "evt_1", "extra"]),
        cursor_of(["2024-05-01T12:00:00", True]),
        cursor_of(["2024-05-01T12:00:00", "evt_\x00"]),
        cursor_of(["2024-05-01T12:00:00", 2**63]),
        encode_cursor("evt_1"),
        "garbage",
    ],
)
def test_a_time_cursor_that_is_not_ours_is_refused(cursor):
    assert_not_ours(cursor, _decode_time_cursor)


def test_a_time_cursor_holding_a_two_key_object_is_refused():
    assert_not_ours(cursor_of({"2024-05-01T12:00:00": 1, "evt_1": 2}), _decode_time_cursor)


def test_a_page_shorter_than_the_limit_has_no_next_cursor():
    assert paginate(FakeQuery(rows(3)), Row.id, limit=3, cursor=None)[1] is None


def test_a_full_page_holds_limit_rows():
    page, _ = paginate(FakeQuery(rows(5)), Row.id, limit=3, cursor=None)
    assert [row.id for row in page] == ["evt_5", "evt_4", "evt_3"]


def test_a_full_page_continues_after_its_last_row():
    _, cursor = paginate(FakeQuery(rows(5)), Row.id, limit=3, cursor=None)
    assert decode_cursor(cursor) == "evt_3"


def test_a_first_page_is_not_filtered():
    query = FakeQuery(rows(2))
    paginate(query, Row.id, limit=3, cursor=None)
    assert query.filters == []


def test_a_next_page_is_filtered_by_its_cursor():
    query = FakeQuery(rows(2))
    paginate(query, Row.id, limit=3, cursor=encode_cursor("evt_3"))
    assert len(query.filters) == 1


def test_a_page_with_a_foreign_cursor_is_refused():
    assert_not_ours("garbage", lambda cursor: paginate(FakeQuery(rows(2)), Row.id, limit=3, cursor=cursor))


def test_a_full_time_page_continues_after_its_last_rows_time_and_id():
    _, cursor = paginate_by_time(FakeQuery(rows(5)), Row.created_at, Row.id, limit=3, cursor=None)
    assert _decode_time_cursor(cursor) == (datetime.datetime(2024, 5, 1, 11, 58, 0), "evt_3")


def test_a_time_page_with_a_foreign_cursor_is_refused():
    assert_not_ours(
        encode_cursor("evt_1"),
        lambda cursor: paginate_by_time(FakeQuery(rows(2)), Row.created_at, Row.id, limit=3, cursor=cursor),
    )
