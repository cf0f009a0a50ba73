"""The Python evaluator on single objects (GRAMMAR.md §4-§9), as RBAC scope checks use it."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from mailwarden.cmdlets.opath import (
    FilterProperty,
    PropertyMap,
    PropertyType,
    child_any_of,
    evaluate,
    parse,
    predicate,
)
from mailwarden.errors import ParameterBindingError, UnknownFilterPropertyError

_t = sa.Table(
    "eval_objects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("city", sa.String),
    sa.Column("department", sa.String),
    sa.Column("title", sa.String),
    sa.Column("enabled", sa.Boolean),
    sa.Column("created", sa.DateTime),
    sa.Column("guid", sa.String),
    sa.Column("usage", sa.String),
)
_addr = sa.Table(
    "eval_addresses", sa.MetaData(), sa.Column("oid", sa.Integer), sa.Column("address", sa.String)
)

PROPS = PropertyMap(
    [
        FilterProperty("City", PropertyType.STRING, _t.c.city),
        FilterProperty("Department", PropertyType.STRING, _t.c.department),
        FilterProperty("Title", PropertyType.STRING, _t.c.title),
        FilterProperty("UsageLocation", PropertyType.STRING, _t.c.usage, attr="usage_location"),
        FilterProperty("IsMailboxEnabled", PropertyType.BOOL, _t.c.enabled, wildcards=False),
        FilterProperty("WhenCreatedUTC", PropertyType.DATETIME, _t.c.created, wildcards=False),
        FilterProperty("Guid", PropertyType.GUID, _t.c.guid, wildcards=False),
        FilterProperty(
            "EmailAddresses",
            PropertyType.STRING,
            any_of=child_any_of(_addr.c.address, _addr.c.oid == _t.c.id),
            strip_smtp_prefix=True,
        ),
    ]
)


def obj(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "City": None,
        "Department": None,
        "Title": None,
        "usage_location": None,
        "IsMailboxEnabled": None,
        "WhenCreatedUTC": None,
        "Guid": None,
        "EmailAddresses": [],
    }
    return {**base, **values}


SCOPE13 = '{((City -Eq "Vancouver") -And (Department -Eq "Sales")) -Or (Title -Like "*Manager*")}'


@pytest.mark.parametrize(
    ("city", "department", "title", "expected"),
    [
        # The EX-SCOPE13 truth table for the filter above.
        ("Vancouver", "Sales", "Sales Associate", True),
        ("Vancouver", "Sales", "IT Manager", True),
        ("Vancouver", "Marketing", "IT Manager", True),
        ("Vancouver", "Marketing", "Marketing Associate", False),
        ("Toronto", "Sales", "Sales Associate", False),
        ("Toronto", "Sales", "Sales Manager", True),
        ("Toronto", "IT", "IT Manager", True),
        ("Toronto", "IT", "Network Engineer", False),
    ],
)
def test_scope13_truth_table(city: str, department: str, title: str, expected: bool) -> None:
    assert evaluate(SCOPE13, PROPS, obj(City=city, Department=department, Title=title)) is expected


def test_attr_overrides_mapping_key() -> None:
    assert evaluate("UsageLocation -eq 'FR'", PROPS, obj(usage_location="fr"))
    assert not evaluate("UsageLocation -eq 'FR'", PROPS, obj(usage_location="US"))


def test_missing_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        evaluate("City -eq 'x'", PROPS, {"Department": "x"})


def test_wrong_python_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        evaluate("City -eq 'x'", PROPS, obj(City=5.0))
    with pytest.raises(TypeError):
        evaluate("EmailAddresses -eq 'a@b.c'", PROPS, obj(EmailAddresses="smtp:a@b.c"))


def test_short_circuit_does_not_skip_validation() -> None:
    with pytest.raises(UnknownFilterPropertyError):
        evaluate("City -like '*' -or Nope -eq 1", PROPS, obj(City="x"))
    with pytest.raises(ParameterBindingError):
        evaluate("City -like '*' -or IsMailboxEnabled -eq 'maybe'", PROPS, obj(City="x"))


def test_short_circuit_skips_unneeded_reads() -> None:
    # The right operand is never read when the left decides: RBAC may pass partial objects on purpose.
    check = predicate("City -eq 'a' -or Department -eq 'b'", PROPS)
    assert check({"City": "A"}) is True
    with pytest.raises(KeyError):
        check({"City": "z"})


def test_bool_values() -> None:
    assert evaluate("IsMailboxEnabled -eq $true", PROPS, obj(IsMailboxEnabled=True))
    assert evaluate("IsMailboxEnabled -eq 'false'", PROPS, obj(IsMailboxEnabled=False))
    assert evaluate("IsMailboxEnabled -ne $true", PROPS, obj(IsMailboxEnabled=None))
    assert not evaluate("IsMailboxEnabled -eq $false", PROPS, obj(IsMailboxEnabled=None))
    assert evaluate("IsMailboxEnabled -eq $null", PROPS, obj(IsMailboxEnabled=None))


def test_datetime_aware_values_are_converted_to_utc() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    created = dt.datetime(2017, 8, 1, 16, 0, tzinfo=plus2)  # 14:00 UTC
    assert evaluate("WhenCreatedUTC -eq '8/1/2017 2:00:00 PM'", PROPS, obj(WhenCreatedUTC=created))
    assert evaluate("WhenCreatedUTC -le '2017-08-01 14:00'", PROPS, obj(WhenCreatedUTC=created))
    assert not evaluate("WhenCreatedUTC -lt '8/1/2017 14:00'", PROPS, obj(WhenCreatedUTC=created))


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("8/1/2017", dt.datetime(2017, 8, 1)),
        ("08/01/2017 12:00:00 AM", dt.datetime(2017, 8, 1)),
        ("8/1/2017 12:30 PM", dt.datetime(2017, 8, 1, 12, 30)),
        ("8/1/2017 2:00:00 pm", dt.datetime(2017, 8, 1, 14)),
        ("8/1/2017 23:59:59", dt.datetime(2017, 8, 1, 23, 59, 59)),
        ("2017-08-01", dt.datetime(2017, 8, 1)),
        ("2017-08-01T14:00:00Z", dt.datetime(2017, 8, 1, 14)),
    ],
)
def test_date_literals(literal: str, expected: dt.datetime) -> None:
    assert evaluate(f"WhenCreatedUTC -eq '{literal}'", PROPS, obj(WhenCreatedUTC=expected))
    assert not evaluate(
        f"WhenCreatedUTC -eq '{literal}'", PROPS, obj(WhenCreatedUTC=expected + dt.timedelta(seconds=1))
    )


def test_guid_accepts_uuid_objects_and_any_case() -> None:
    value = uuid.UUID("0b3c7a4e-2f5d-4c1a-9e8b-7d6f5a4b3c2d")
    assert evaluate("Guid -eq '0B3C7A4E-2F5D-4C1A-9E8B-7D6F5A4B3C2D'", PROPS, obj(Guid=value))
    assert evaluate("Guid -eq '0b3c7a4e2f5d4c1a9e8b7d6f5a4b3c2d'", PROPS, obj(Guid=str(value).upper()))


def test_email_addresses_rules() -> None:
    target = obj(EmailAddresses=["SMTP:Lila@Fabrikam.com", "smtp:l@contoso.com"])
    assert evaluate("EmailAddresses -eq 'lila@fabrikam.com'", PROPS, target)
    assert evaluate("EmailAddresses -eq 'l@contoso.com'", PROPS, target)
    assert not evaluate("EmailAddresses -like 'lila*'", PROPS, target)
    assert evaluate("EmailAddresses -like 'smtp:lila*'", PROPS, target)
    assert evaluate("EmailAddresses -ne 'x@contoso.com'", PROPS, target)
    assert not evaluate("EmailAddresses -ne 'l@contoso.com'", PROPS, target)
    assert evaluate("EmailAddresses -eq $null", PROPS, obj(EmailAddresses=None))
    assert evaluate("EmailAddresses -eq $null", PROPS, obj(EmailAddresses=["", None]))


def test_hostile_wildcard_pattern_is_linear() -> None:
    pattern = "*a" * 40 + "*b"
    started = time.perf_counter()
    assert not evaluate(f"Title -like '{pattern}'", PROPS, obj(Title="a" * 2000))
    assert time.perf_counter() - started < 1.0


def test_predicate_is_reusable_and_accepts_a_parsed_tree() -> None:
    check = predicate(parse("City -like 'van*' -and -not Title -like '*temp*'"), PROPS)
    assert check(obj(City="Vancouver", Title="Clerk"))
    assert not check(obj(City="Vancouver", Title="Temp clerk"))
    assert not check(obj(City="Victoria", Title="Clerk"))


def test_parameter_name_is_used_in_binding_errors() -> None:
    with pytest.raises(ParameterBindingError) as info:
        evaluate("IsMailboxEnabled -eq 'x'", PROPS, obj(), parameter="RecipientRestrictionFilter")
    assert info.value.parameter == "RecipientRestrictionFilter"
