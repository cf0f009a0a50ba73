"""SQL (compile_filter on SQLite) and Python (evaluate) must agree on every object for every filter.

Random objects go into an in-memory SQLite table plus a child table for the multi-valued property;
random filters (valid by construction) must select exactly the objects ``evaluate`` accepts. The value
alphabet is tiny and hostile on purpose: case variants, non-ASCII case pairs, LIKE metacharacters,
quotes, blanks and NULLs, so that matches, near misses and NULL logic are all exercised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwarden.cmdlets.opath import (
    And,
    BoolValue,
    Comparison,
    FilterProperty,
    IntValue,
    Node,
    Not,
    NullValue,
    Op,
    Or,
    PropertyMap,
    PropertyType,
    StringValue,
    Value,
    child_any_of,
    compile_filter,
    evaluate,
    parse,
    sqlite_unicode_lower,
    to_text,
)

metadata = sa.MetaData()
objects = sa.Table(
    "agree_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("city", sa.String),
    sa.Column("count", sa.Integer),
    sa.Column("flag", sa.Boolean),
    sa.Column("when", sa.DateTime),
    sa.Column("kind", sa.String),
)
addresses = sa.Table(
    "agree_addresses",
    metadata,
    sa.Column("object_id", sa.ForeignKey("agree_objects.id")),
    sa.Column("address", sa.String),
)
KINDS = ("UserMailbox", "MailUser", "SharedMailbox")
PROPS = PropertyMap(
    [
        FilterProperty("Name", PropertyType.STRING, objects.c.name),
        FilterProperty("City", PropertyType.STRING, objects.c.city),
        FilterProperty("Count", PropertyType.INT, objects.c.count, wildcards=False),
        FilterProperty("Flag", PropertyType.BOOL, objects.c.flag, wildcards=False),
        FilterProperty("When", PropertyType.DATETIME, objects.c.when, wildcards=False),
        FilterProperty("Kind", PropertyType.ENUM, objects.c.kind, wildcards=False, enum_values=KINDS),
        FilterProperty(
            "EmailAddresses",
            PropertyType.STRING,
            any_of=child_any_of(addresses.c.address, addresses.c.object_id == objects.c.id),
            strip_smtp_prefix=True,
        ),
    ]
)

ALPHABET = ["a", "A", "b", "é", "É", "ß", "İ", "%", "_", "\\", "'", " ", "*"]
DATES = [dt.datetime(2017, 8, 1), dt.datetime(2017, 8, 1, 14), dt.datetime(2020, 1, 31, 23, 59, 59)]
ADDRESS_POOL = ["SMTP:a@x", "smtp:a@x", "smtp:A@X", "smtp:b@x", "sip:a@x", "X500:/o=a", "", "smtp:%_@x"]

texts = st.text(st.sampled_from(ALPHABET), max_size=4)
stored_texts = st.one_of(st.none(), texts)

object_strategy = st.fixed_dictionaries(
    {
        "Name": stored_texts,
        "City": stored_texts,
        "Count": st.one_of(st.none(), st.integers(-2, 2)),
        "Flag": st.one_of(st.none(), st.booleans()),
        "When": st.one_of(st.none(), st.sampled_from(DATES)),
        "Kind": st.one_of(st.none(), st.just(""), st.sampled_from(KINDS)),
        "EmailAddresses": st.lists(st.sampled_from(ADDRESS_POOL), max_size=3),
    }
)

EQ_NE = st.sampled_from([Op.EQ, Op.NE])
ANY_OP = st.sampled_from(list(Op))
null = st.just(NullValue())


def _date_literal(value: dt.datetime, us: bool) -> StringValue:
    if us:
        hour12 = value.hour % 12 or 12
        suffix = "PM" if value.hour >= 12 else "AM"
        return StringValue(
            f"{value.month}/{value.day}/{value.year} {hour12}:{value.minute:02}:{value.second:02} {suffix}"
        )
    return StringValue(value.isoformat())


def _cmp(prop: str, ops: st.SearchStrategy[Op], values: st.SearchStrategy[Value]) -> st.SearchStrategy[Node]:
    return st.builds(Comparison, st.just(prop), ops, values)


def _null_cmp(prop: str) -> st.SearchStrategy[Node]:
    return _cmp(prop, EQ_NE, null)


comparisons: st.SearchStrategy[Node] = st.one_of(
    *(
        _cmp(p, st.sampled_from([Op.EQ, Op.NE, Op.LIKE, Op.NOTLIKE]), texts.map(StringValue))
        for p in ("Name", "City")
    ),
    _null_cmp("Name"),
    _null_cmp("City"),
    _cmp(
        "Count", ANY_OP.filter(lambda op: op not in (Op.LIKE, Op.NOTLIKE)), st.integers(-2, 2).map(IntValue)
    ),
    _cmp("Count", EQ_NE, st.integers(-2, 2).map(lambda i: StringValue(str(i)))),
    _null_cmp("Count"),
    _cmp(
        "Flag",
        EQ_NE,
        st.one_of(st.booleans().map(BoolValue), st.sampled_from(["True", "false"]).map(StringValue)),
    ),
    _null_cmp("Flag"),
    _cmp(
        "When",
        ANY_OP.filter(lambda op: op not in (Op.LIKE, Op.NOTLIKE)),
        st.builds(_date_literal, st.sampled_from(DATES), st.booleans()),
    ),
    _null_cmp("When"),
    _cmp(
        "Kind",
        st.sampled_from([Op.EQ, Op.NE, Op.LIKE, Op.NOTLIKE]),
        st.sampled_from(KINDS).map(lambda k: StringValue(k.lower())),
    ),
    _null_cmp("Kind"),
    _cmp(
        "EmailAddresses",
        st.sampled_from([Op.EQ, Op.NE, Op.LIKE, Op.NOTLIKE]),
        st.sampled_from(["a@x", "A@x", "smtp:a@x", "sip:a@x", "smtp:*", "*@x", "s*", "*%_*", "b@x", ""]).map(
            StringValue
        ),
    ),
    _null_cmp("EmailAddresses"),
)

filters: st.SearchStrategy[Node] = st.recursive(
    comparisons,
    lambda inner: st.one_of(st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    eng = sa.create_engine("sqlite://")
    # Python's str.lower in SQLite too, so non-ASCII case folding is identical on both sides.
    sa.event.listen(eng, "connect", sqlite_unicode_lower)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


def _load(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(addresses.delete())
    conn.execute(objects.delete())
    conn.execute(
        objects.insert(),
        [
            {
                "id": i,
                "name": r["Name"],
                "city": r["City"],
                "count": r["Count"],
                "flag": r["Flag"],
                "when": r["When"],
                "kind": r["Kind"],
            }
            for i, r in enumerate(rows)
        ],
    )
    links = [{"object_id": i, "address": a} for i, r in enumerate(rows) for a in r["EmailAddresses"]]
    if links:
        conn.execute(addresses.insert(), links)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(object_strategy, min_size=1, max_size=6), node=filters)
def test_sql_and_python_agree(engine: sa.Engine, rows: list[dict[str, Any]], node: Node) -> None:
    with engine.begin() as conn:
        _load(conn, rows)
        sql = set(conn.scalars(sa.select(objects.c.id).where(compile_filter(node, PROPS))))
    python = {i for i, r in enumerate(rows) if evaluate(node, PROPS, r)}
    assert sql == python, to_text(node)
    # The canonical text is the same filter.
    assert {i for i, r in enumerate(rows) if evaluate(parse(to_text(node)), PROPS, r)} == python


@settings(max_examples=200, deadline=None)
@given(node=filters, row=object_strategy)
def test_not_is_complement(node: Node, row: dict[str, Any]) -> None:
    assert evaluate(Not(node), PROPS, row) is not evaluate(node, PROPS, row)


@settings(max_examples=200, deadline=None)
@given(prop=st.sampled_from(["Name", "City", "EmailAddresses"]), value=texts, row=object_strategy)
def test_ne_is_not_eq_and_notlike_is_not_like(prop: str, value: str, row: dict[str, Any]) -> None:
    for positive, negative in ((Op.EQ, Op.NE), (Op.LIKE, Op.NOTLIKE)):
        yes = evaluate(Comparison(prop, positive, StringValue(value)), PROPS, row)
        no = evaluate(Comparison(prop, negative, StringValue(value)), PROPS, row)
        assert yes is not no
