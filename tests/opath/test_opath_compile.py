"""compile_filter against a real SQLite database, checked row by row (GRAMMAR.md §5-§9).

Every filter is also run through ``evaluate`` on the same rows, so each case checks both paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from mailwarden.cmdlets.opath import (
    FilterProperty,
    PropertyMap,
    PropertyType,
    child_any_of,
    compile_filter,
    evaluate,
    sqlite_unicode_lower,
)
from mailwarden.errors import FilterSyntaxError, ParameterBindingError, UnknownFilterPropertyError

metadata = sa.MetaData()
recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("alias", sa.String),
    sa.Column("display_name", sa.String),
    sa.Column("department", sa.String),
    sa.Column("city", sa.String),
    sa.Column("title", sa.String),
    sa.Column("rtd", sa.String),
    sa.Column("database", sa.String),
    sa.Column("has_as", sa.Boolean),
    sa.Column("is_shared", sa.Boolean),
    sa.Column("country_code", sa.Integer),
    sa.Column("when_created", sa.DateTime),
    sa.Column("exchange_guid", sa.String),
    sa.Column("quota", sa.String),
    sa.Column("group_type", sa.String),
)
proxies = sa.Table(
    "proxy_addresses",
    metadata,
    sa.Column("recipient_id", sa.ForeignKey("recipients.id"), nullable=False),
    sa.Column("address", sa.String, nullable=False),
)

RTD = ("UserMailbox", "SharedMailbox", "MailUser", "MailContact", "RoomMailbox")
PROPERTIES = PropertyMap(
    [
        FilterProperty("Name", PropertyType.STRING, recipients.c.name),
        FilterProperty("Alias", PropertyType.STRING, recipients.c.alias),
        FilterProperty("DisplayName", PropertyType.STRING, recipients.c.display_name),
        FilterProperty("Department", PropertyType.STRING, recipients.c.department),
        FilterProperty("City", PropertyType.STRING, recipients.c.city),
        FilterProperty("Title", PropertyType.STRING, recipients.c.title),
        FilterProperty(
            "RecipientTypeDetails", PropertyType.ENUM, recipients.c.rtd, wildcards=False, enum_values=RTD
        ),
        FilterProperty("Database", PropertyType.DN, recipients.c.database, wildcards=False, null_ok=False),
        FilterProperty(
            "HasActiveSyncDevicePartnership", PropertyType.BOOL, recipients.c.has_as, wildcards=False
        ),
        FilterProperty("IsShared", PropertyType.BOOL, recipients.c.is_shared, wildcards=False),
        FilterProperty("CountryCode", PropertyType.INT, recipients.c.country_code, wildcards=False),
        FilterProperty("WhenCreated", PropertyType.DATETIME, recipients.c.when_created, wildcards=False),
        FilterProperty("ExchangeGuid", PropertyType.GUID, recipients.c.exchange_guid, wildcards=False),
        FilterProperty("ProhibitSendQuota", PropertyType.SIZE, recipients.c.quota, wildcards=False),
        FilterProperty(
            "GroupType",
            PropertyType.FLAGS,
            recipients.c.group_type,
            wildcards=False,
            enum_values=("None", "Global", "DomainLocal", "BuiltinLocal", "Universal", "SecurityEnabled"),
        ),
        FilterProperty("RetainDeletedItemsFor", PropertyType.TIMESPAN, wildcards=False),
        FilterProperty(
            "EmailAddresses",
            PropertyType.STRING,
            any_of=child_any_of(proxies.c.address, proxies.c.recipient_id == recipients.c.id),
            strip_smtp_prefix=True,
        ),
    ]
)

GUID = "0b3c7a4e-2f5d-4c1a-9e8b-7d6f5a4b3c2d"
BASE: dict[str, Any] = {
    "alias": None,
    "display_name": None,
    "department": None,
    "city": None,
    "title": None,
    "rtd": "UserMailbox",
    "database": None,
    "has_as": False,
    "is_shared": False,
    "country_code": None,
    "when_created": None,
    "exchange_guid": None,
    "quota": None,
    "group_type": None,
}
ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "Lila", "alias": "lila", "display_name": "Lila Sales", "department": "Sales",
     "city": "Vancouver", "title": "Clerk", "database": "CN=DB01,CN=Databases", "has_as": True,
     "country_code": 840, "when_created": dt.datetime(2017, 8, 1, 14, 0, 0), "exchange_guid": GUID,
     "quota": "Unlimited"},
    {"id": 2, "name": "Sam", "alias": "sales2", "display_name": "CAS_{abc}", "department": "sales",
     "city": "Toronto", "title": "IT Manager", "rtd": "SharedMailbox", "is_shared": True, "has_as": True,
     "country_code": 124, "when_created": dt.datetime(2016, 1, 1), "quota": "50 GB",
     "database": "CN=DB02,CN=Databases"},
    {"id": 3, "name": "O'Brien, Laurie L", "alias": "laurie", "display_name": "Laurie", "department": "",
     "city": "Vancouver", "title": "Manager of things", "rtd": "MailUser", "has_as": None,
     "when_created": dt.datetime(2020, 5, 5, 9, 30)},
    {"id": 4, "name": "x' OR 1=1 --", "alias": "100%_real\\", "display_name": "Weird", "rtd": "MailContact",
     "group_type": "Universal, SecurityEnabled"},
    {"id": 5, "name": "Room 1", "alias": "room1", "display_name": "Room", "department": "Facilities",
     "rtd": "RoomMailbox", "city": "vancouver", "title": "Sales Manager", "database": "CN=DB01,CN=Databases",
     "group_type": "Universal"},
]  # fmt: skip
ROWS = [{**BASE, **row} for row in ROWS]
ADDRESSES = {
    1: ["SMTP:lila@fabrikam.com", "smtp:lila.s@contoso.com", "X500:/o=Org/cn=lila"],
    2: ["SMTP:sam@contoso.com", "smtp:sales@contoso.com"],
    3: ["SMTP:laurie@contoso.com"],
    4: [],
    5: ["SMTP:room1@contoso.com", "sip:room1@contoso.com"],
}


def as_object(row: dict[str, Any]) -> dict[str, Any]:
    """The Mapping the evaluator sees for a row (keyed by property name, as FilterProperty.attr defaults)."""
    columns = {p.name: p.column for p in PROPERTIES if p.column is not None}
    obj = {name: row[col.key] for name, col in columns.items() if isinstance(col, sa.Column)}
    obj["EmailAddresses"] = ADDRESSES[row["id"]]
    return obj


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    eng = sa.create_engine("sqlite://")
    sa.event.listen(eng, "connect", sqlite_unicode_lower)
    metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(recipients.insert(), ROWS)
        conn.execute(
            proxies.insert(),
            [{"recipient_id": i, "address": a} for i, addrs in ADDRESSES.items() for a in addrs],
        )
    yield eng
    eng.dispose()


def ids(engine: sa.Engine, text: str) -> set[int]:
    """Matching row ids via SQL, after checking that the Python evaluator agrees."""
    query = sa.select(recipients.c.id).where(compile_filter(text, PROPERTIES))
    with engine.connect() as conn:
        found = set(conn.scalars(query))
    python = {row["id"] for row in ROWS if evaluate(text, PROPERTIES, as_object(row))}
    assert found == python, f"SQL {found} != Python {python} for {text!r}"
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # documented examples
        ("Department -eq 'Sales'", {1, 2}),
        ("Alias -like 'sal*'", {2}),
        ("(-not(Database -ne $null))", {3, 4}),
        ("EmailAddresses -eq 'lila@fabrikam.com'", {1}),
        ("HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'", {1}),
        (
            '{((City -Eq "Vancouver") -And (Department -Eq "Sales")) -Or (Title -Like "*Manager*")}',
            {1, 2, 3, 5},
        ),
        ("Name -eq 'O''Brien, Laurie L'", {3}),
        ("RecipientTypeDetails -eq 'mailuser'", {3}),
        ("WhenCreated -eq '8/1/2017 2:00:00 PM'", {1}),
        ("WhenCreated -gt '8/13/2017'", {3}),
        ("WhenCreated -lt '8/1/2017'", {2}),
        ("CountryCode -eq '840'", {1}),
        ("CountryCode -eq 840", {1}),
        ("ProhibitSendQuota -eq 'Unlimited'", {1}),
        ("ProhibitSendQuota -ne 'unlimited'", {2, 3, 4, 5}),
        # case-insensitivity of -eq / -ne / -like / property names
        ("department -EQ 'SALES'", {1, 2}),
        ("City -eq 'VANCOUVER'", {1, 3, 5}),
        ("City -ne 'vancouver'", {2, 4}),
        ("Title -like '*manager*'", {2, 3, 5}),
        ("Title -like 'manager*'", {3}),
        ("Title -like '*manager'", {2, 5}),
        ("Title -notlike '*Manager*'", {1, 4}),
        ("Title -like 'it manager'", {2}),  # -like without wildcard = case-insensitive equality (§13.3)
        ("Title -like '*'", {1, 2, 3, 5}),
        ("Title -like '*a*a*e*'", {2, 3, 5}),
        # $null and blank
        ("Department -eq $null", {3, 4}),  # '' counts as blank
        ("Department -ne $null", {1, 2, 5}),
        ("Department -eq ''", {3, 4}),
        ("Department -ne 'Sales'", {3, 4, 5}),  # blank values match -ne
        ("-not (Department -eq 'Sales')", {3, 4, 5}),
        ("Department -notlike 'S*'", {3, 4, 5}),
        ("HasActiveSyncDevicePartnership -eq $null", {3}),
        ("HasActiveSyncDevicePartnership -ne $true", {3, 4, 5}),
        ("HasActiveSyncDevicePartnership -eq $false", {4, 5}),
        ("IsShared -eq 'True'", {2}),
        ("CountryCode -ge 124", {1, 2}),
        ("CountryCode -lt 500", {2}),
        ("-not (CountryCode -lt 500)", {1, 3, 4, 5}),
        ("CountryCode -eq $null", {3, 4, 5}),
        ("WhenCreated -eq $null", {4, 5}),
        ("WhenCreated -ge '2017-08-01T14:00:00Z'", {1, 3}),
        ("WhenCreated -ge '2017-08-01T16:00:00+02:00'", {1, 3}),
        # enum, guid, flags, DN
        ("RecipientTypeDetails -ne 'UserMailbox'", {2, 3, 4, 5}),
        (
            "RecipientTypeDetails -like 'roommailbox'",
            {5},
        ),  # -like without wildcard on a non-wildcard property
        (f"ExchangeGuid -eq '{GUID.upper()}'", {1}),
        (f"ExchangeGuid -eq '{{{GUID}}}'", {1}),
        (f"ExchangeGuid -ne '{GUID}'", {2, 3, 4, 5}),
        ("GroupType -eq 'SecurityEnabled,Universal'", {4}),
        ("GroupType -eq 'universal'", {5}),
        ("Database -eq 'cn=db01,cn=databases'", {1, 5}),
        # multi-valued EmailAddresses (§7)
        ("EmailAddresses -eq 'LILA.S@contoso.com'", {1}),
        ("EmailAddresses -eq 'SMTP:lila@fabrikam.com'", {1}),
        ("EmailAddresses -eq 'x500:/o=Org/cn=lila'", {1}),
        ("EmailAddresses -eq 'sip:room1@contoso.com'", {5}),
        ("EmailAddresses -eq 'room1@contoso.com'", {5}),
        ("EmailAddresses -like 'lila*'", set()),
        ("EmailAddresses -like 'smtp:lila*'", {1}),
        ("EmailAddresses -like 'smtp:*@contoso.com'", {1, 2, 3, 5}),
        ("EmailAddresses -like 'lila@fabrikam.com'", set()),  # -like sees the prefix
        ("EmailAddresses -ne 'sales@contoso.com'", {1, 3, 4, 5}),
        ("EmailAddresses -notlike 'sip:*'", {1, 2, 3, 4}),
        ("EmailAddresses -eq $null", {4}),
        ("EmailAddresses -ne $null", {1, 2, 3, 5}),
        # nesting
        ("(City -eq 'Vancouver' -or City -eq 'Toronto') -and -not (Title -like '*Manager*')", {1}),
        ("City -eq 'Toronto' -or City -eq 'Vancouver' -and Department -eq 'Sales'", {1, 2}),
        ("-not (-not (Alias -like 'l*') -and -not (Alias -like 'r*'))", {1, 3, 5}),
        # LIKE metacharacters and injection attempts are literal
        ("Alias -like '100%_real\\'", {4}),
        ("Alias -like '100%*'", {4}),
        ("Alias -like '1_0*'", set()),
        ("Alias -like '%'", set()),
        ("Name -eq 'x'' OR 1=1 --'", {4}),
        ("Name -eq 'Lila'' OR ''1''=''1'", set()),
        ("Name -like '*'') OR 1=1; DROP TABLE recipients; --*'", set()),
    ],
)
def test_filter_rows(engine: sa.Engine, text: str, expected: set[int]) -> None:
    assert ids(engine, text) == expected


def test_injection_attempt_leaves_table_intact(engine: sa.Engine) -> None:
    assert ids(engine, "Name -eq 'x''; DROP TABLE recipients; --'") == set()
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(recipients)) == len(ROWS)


def test_values_are_bound_parameters() -> None:
    clause = compile_filter("Name -eq 'x'' OR 1=1 --'", PROPERTIES)
    compiled = clause.compile(dialect=sqlite.dialect())
    assert "OR 1=1" not in str(compiled)
    assert "x' or 1=1 --" in compiled.params.values()


def test_like_escapes_metacharacters() -> None:
    clause = compile_filter("Alias -like 'a%b_c\\d*'", PROPERTIES)
    compiled = clause.compile(dialect=sqlite.dialect())
    assert "a\\%b\\_c\\\\d%" in compiled.params.values()
    assert "ESCAPE" in str(compiled)


def test_unicode_case_folding_with_sqlite_hook(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(recipients.insert(), [{**BASE, "id": 99, "name": "ÉLODIE"}])
    try:
        assert ids_raw(engine, "Name -eq 'élodie'") == {99}
    finally:
        with engine.begin() as conn:
            conn.execute(recipients.delete().where(recipients.c.id == 99))


def ids_raw(engine: sa.Engine, text: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(recipients.c.id).where(compile_filter(text, PROPERTIES))))


# --- errors ---------------------------------------------------------------------------------------------


def test_unknown_property_names_it_and_lists_valid_names() -> None:
    with pytest.raises(UnknownFilterPropertyError) as info:
        compile_filter("IsSecurityPrincipal -eq $true", PROPERTIES)
    message = info.value.message
    assert '""IsSecurityPrincipal" is not a recognized filterable property' in message
    assert "Valid property names are: Alias, City, CountryCode, Database," in message
    assert info.value.property == "IsSecurityPrincipal"


def test_unknown_property_in_unreached_branch_still_fails() -> None:
    with pytest.raises(UnknownFilterPropertyError):
        compile_filter("Name -eq 'x' -or Bogus -eq 'y'", PROPERTIES)
    with pytest.raises(UnknownFilterPropertyError):
        evaluate("Name -like '*' -or Bogus -eq 'y'", PROPERTIES, as_object(ROWS[0]))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("IsShared -eq 'abc'", "'abc'"),
        ("IsShared -eq 1", "IsShared"),
        ("CountryCode -eq 'abc'", "expected an integer"),
        ("CountryCode -eq $true", "CountryCode"),
        ("ExchangeGuid -eq 'not-a-guid'", "GUID"),
        ("WhenCreated -gt 'yesterday'", "date"),
        ("WhenCreated -gt '13/1/2017'", "date"),
        ("WhenCreated -gt '8/1/2017 13:00:00 PM'", "date"),
        ("WhenCreated -eq 5", "date"),
        ("RecipientTypeDetails -eq 'Mailbox'", "UserMailbox, SharedMailbox"),
        ("RecipientTypeDetails -like 'User*'", "Wildcards are not supported"),
        ("ExchangeGuid -like '0b3c*'", "Wildcards"),
        ("IsShared -like '*'", "Wildcards"),
        ("ProhibitSendQuota -eq '50 GB'", "Unlimited"),
        ("ProhibitSendQuota -gt 'Unlimited'", "-gt"),
        ("RetainDeletedItemsFor -eq '14.00:00:00'", "Where-Object"),
        ("Name -gt 'm'", "integer and date/time"),
        ("Name -like $null", "pattern"),
        ("CountryCode -lt $null", "$null"),
        ("GroupType -eq 'Universal,Bogus'", "SecurityEnabled"),
        ("Name -eq $true", "Name"),
    ],
)
def test_bad_values_raise_parameter_binding_error(text: str, fragment: str) -> None:
    with pytest.raises(ParameterBindingError) as info:
        compile_filter(text, PROPERTIES)
    assert not isinstance(info.value, FilterSyntaxError | UnknownFilterPropertyError)
    assert info.value.parameter == "Filter"
    assert fragment in info.value.message
    with pytest.raises(ParameterBindingError):
        evaluate(text, PROPERTIES, as_object(ROWS[0]))


def test_syntax_error_from_compile() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_filter("(RecipientType -eq 'UserMailbox' -or 'MailUser')", PROPERTIES)
    assert info.value.position == 37
