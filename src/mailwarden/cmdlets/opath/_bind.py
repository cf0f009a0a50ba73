"""Bind a parsed comparison to a property: check the operator and value, normalise the operand.

Shared by the SQL compiler and the Python evaluator so the two cannot drift apart. Every comparison
becomes a *positive test* on one value (for multi-valued properties: on one element) plus a ``negate``
flag; the positive test is two-valued (a blank value simply fails it), so negation never meets SQL NULL.

=====================  ===========================  =====================================
filter                 scalar property              multi-valued property (``any_of``)
=====================  ===========================  =====================================
``-eq $null``          not Present(v)               no element is Present
``-ne $null``          Present(v)                   some element is Present
``-eq x``              Equals(v, x)                 some element Equals x   (§7 "contains")
``-ne x``              not Equals(v, x)             no element Equals x
``-like p``            Matches(v, p)                some element Matches p
``-notlike p``         not Matches(v, p)            no element Matches p
``-lt/-gt/-le/-ge x``  Order(v, x)                  some element satisfies Order
=====================  ===========================  =====================================

Consequences, all deliberate: ``-ne 'x'`` and ``-notlike`` match blank values (so ``-not (A -eq 'x')``
is exactly ``A -ne 'x'``); ordering operators never match blank values. Blank means NULL, or '' for text.

Value rules (GRAMMAR.md §5, §6, §8, §9, §13):

* text ``-eq``/``-ne``/``-like`` are case-insensitive (§5, §13.13); '' is the same as ``$null``;
  integers are accepted for text properties (``PostalCode -eq 90210``, §8);
* ``-like`` with ``*`` only on STRING/DN properties that accept wildcards, else ``ParameterBindingError``;
  ``-like`` without ``*`` is an equality test (§13.3) on every property;
* ``$null`` only with ``-eq``/``-ne``; ``null_ok`` is not enforced because documented examples test
  properties whose value table omits ``$null`` (``-not(Database -ne $null)``, ``Alias -ne $null``);
* ordering operators only on INT and DATETIME (the only documented uses, §5), which also keeps results
  independent of database collations;
* BOOL: ``$true``/``$false`` or 'True'/'False'; INT: integers or quoted integers (``'840'``, §8);
* ENUM: names matched case-insensitively (``'mailuser'``, §5), unknown names list the valid ones;
* FLAGS: comma-separated names in any order, canonicalised to ``enum_values`` order (§7, §13.9);
* GUID: any form ``uuid.UUID`` accepts, compared in canonical lower-case form;
* DATETIME: en-US ``M/d/yyyy``, ``M/d/yyyy h:mm[:ss] AM|PM``, ``M/d/yyyy H:mm[:ss]`` or ISO 8601. The
  literal is taken as UTC (§9 and §13.8 leave the zone open; we store naive UTC); an ISO offset is honoured;
* SIZE: only ``-eq``/``-ne 'Unlimited'`` (§8); TIMESPAN: never (§8, use Where-Object);
* EmailAddresses (``strip_smtp_prefix``): an ``-eq`` value without ``prefix:`` is compared with
  ``smtp:<value>``; ``-like`` patterns see the whole element including its prefix (§7).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from mailwarden.cmdlets.opath._ast import BoolValue, Comparison, IntValue, NullValue, Op, StringValue, Value
from mailwarden.cmdlets.opath._properties import FilterProperty, PropertyMap, PropertyType
from mailwarden.errors import ParameterBindingError

__all__ = ["BoundComparison", "Test", "bind", "like_parts"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class Test(enum.Enum):
    PRESENT = "present"
    EQUALS = "equals"
    MATCHES = "matches"
    ORDER = "order"


Operand = str | int | bool | dt.datetime | None


@dataclass(frozen=True, slots=True)
class BoundComparison:
    """A validated comparison: ``negate`` XOR ``test(value, operand)`` (any-element for multi-valued)."""

    prop: FilterProperty
    test: Test
    operand: Operand = None
    """Lower-cased text, int, bool or naive-UTC datetime; for MATCHES the lower-cased pattern."""
    order: Op | None = None
    """For ORDER: one of -lt -gt -le -ge."""
    negate: bool = False


def like_parts(pattern: str) -> tuple[str, ...]:
    """The literal pieces between ``*`` wildcards (``'a*b'`` → ``('a', 'b')``)."""
    return tuple(pattern.split("*"))


class _Binder:
    def __init__(self, comparison: Comparison, prop: FilterProperty, parameter: str) -> None:
        self.comparison = comparison
        self.prop = prop
        self.parameter = parameter

    def error(self, message: str) -> ParameterBindingError:
        return ParameterBindingError(self.parameter, message)

    def bad_value(self, expected: str) -> ParameterBindingError:
        return self.error(
            f"Invalid value {_show(self.comparison.value)} for filter property '{self.prop.name}' "
            f"({self.prop.type.value}): expected {expected}."
        )

    def bind(self) -> BoundComparison:
        prop, op, value = self.prop, self.comparison.op, self.comparison.value
        if prop.type is PropertyType.TIMESPAN:
            raise self.error(
                f"The property '{prop.name}' is a time span and can't be used in a filter; "
                "filter the results with Where-Object instead."
            )
        if op in (Op.LIKE, Op.NOTLIKE):
            bound = self.bind_like(op)
            if bound is not None:
                return bound
            op = Op.EQ if op is Op.LIKE else Op.NE  # §13.3: -like without a wildcard is equality
        if isinstance(value, NullValue) or (
            prop.type.is_text and isinstance(value, StringValue) and value.text == ""
        ):
            if op not in (Op.EQ, Op.NE):
                raise self.error(f"$null can only be compared with -eq or -ne (property '{prop.name}').")
            return BoundComparison(prop, Test.PRESENT, negate=op is Op.EQ)
        if op.is_ordering:
            if prop.type not in (PropertyType.INT, PropertyType.DATETIME):
                raise self.error(
                    f"The operator '{op.value}' can't be used with the property '{prop.name}' "
                    f"({prop.type.value}); it applies to integer and date/time properties only."
                )
            return BoundComparison(prop, Test.ORDER, self.operand(), order=op)
        return BoundComparison(prop, Test.EQUALS, self.operand(), negate=op is Op.NE)

    def bind_like(self, op: Op) -> BoundComparison | None:
        prop, value = self.prop, self.comparison.value
        if isinstance(value, IntValue):
            value = StringValue(str(value.value))
        if not isinstance(value, StringValue):
            raise self.error(f"The operator '{op.value}' needs a quoted pattern (property '{prop.name}').")
        wildcard_ok = prop.wildcards and prop.type in (PropertyType.STRING, PropertyType.DN)
        if "*" in value.text and not wildcard_ok:
            raise self.error(
                f"Wildcards are not supported for the filter property '{prop.name}' "
                f"(value '{value.text}'); use -eq with an exact value."
            )
        if not wildcard_ok:
            return None
        if value.text == "":
            # '' is blank: -like '' tests for a blank value, like -eq $null.
            return BoundComparison(prop, Test.PRESENT, negate=op is Op.LIKE)
        return BoundComparison(prop, Test.MATCHES, value.text.lower(), negate=op is Op.NOTLIKE)

    def operand(self) -> Operand:
        kind = self.prop.type
        if kind is PropertyType.BOOL:
            return self.bool_operand()
        if kind is PropertyType.INT:
            return self.int_operand()
        if kind is PropertyType.DATETIME:
            return self.datetime_operand()
        text = self.text_operand()
        if kind is PropertyType.GUID:
            try:
                return str(uuid.UUID(text.strip()))
            except ValueError:
                raise self.bad_value("a GUID such as 'c3e5f5a2-1b0e-4a8e-9a07-4b0f0b3e6c1d'") from None
        if kind is PropertyType.ENUM:
            return self.enum_operand(text)
        if kind is PropertyType.FLAGS:
            return self.flags_operand(text)
        if kind is PropertyType.SIZE:
            if text.strip().lower() != "unlimited":
                raise self.error(
                    f"The size property '{self.prop.name}' can only be compared with 'Unlimited' in a "
                    f"filter (got '{text}'); compare sizes with Where-Object instead."
                )
            return "unlimited"
        if self.prop.strip_smtp_prefix and not _has_proxy_prefix(text):
            return "smtp:" + text.lower()
        return text.lower()

    def text_operand(self) -> str:
        value = self.comparison.value
        if isinstance(value, StringValue):
            return value.text
        if isinstance(value, IntValue):
            return str(value.value)
        raise self.bad_value("a quoted value")

    def bool_operand(self) -> bool:
        value = self.comparison.value
        if isinstance(value, BoolValue):
            return value.value
        if isinstance(value, StringValue) and value.text.strip().lower() in ("true", "false"):
            return value.text.strip().lower() == "true"
        raise self.bad_value("$true or $false")

    def int_operand(self) -> int:
        value = self.comparison.value
        if isinstance(value, IntValue):
            return value.value
        if isinstance(value, StringValue):
            text = value.text.strip()
            digits = text[1:] if text[:1] in ("-", "+") else text
            if digits.isascii() and digits.isdigit() and len(digits) <= 19:
                number = int(text)
                if _INT64_MIN <= number <= _INT64_MAX:
                    return number
        raise self.bad_value("an integer")

    def datetime_operand(self) -> dt.datetime:
        value = self.comparison.value
        if isinstance(value, StringValue):
            parsed = parse_datetime(value.text)
            if parsed is not None:
                return parsed
        raise self.bad_value("a date such as '8/1/2017', '8/1/2017 2:00:00 PM' or '2017-08-01T14:00:00Z'")

    def enum_operand(self, text: str) -> str:
        allowed = self.prop.enum_values
        if not allowed:
            return text.lower()
        for name in allowed:
            if name.lower() == text.strip().lower():
                return name.lower()
        raise self.bad_value("one of " + ", ".join(allowed))

    def flags_operand(self, text: str) -> str:
        names = [part.strip() for part in text.split(",") if part.strip()]
        allowed = self.prop.enum_values
        if not allowed:
            return ", ".join(names).lower()
        index = {name.lower(): i for i, name in enumerate(allowed)}
        positions: set[int] = set()
        for name in names:
            if name.lower() not in index:
                raise self.bad_value("comma-separated names from " + ", ".join(allowed))
            positions.add(index[name.lower()])
        if not positions:
            raise self.bad_value("comma-separated names from " + ", ".join(allowed))
        return ", ".join(allowed[i] for i in sorted(positions)).lower()


def _show(value: Value) -> str:
    if isinstance(value, StringValue):
        return "'" + value.text.replace("'", "''") + "'"
    if isinstance(value, IntValue):
        return str(value.value)
    if isinstance(value, BoolValue):
        return "$true" if value.value else "$false"
    return "$null"


def _has_proxy_prefix(address: str) -> bool:
    # A proxy-address prefix is a short alphanumeric type before ':' ("smtp:", "SMTP:", "x500:", "sip:").
    prefix, colon, _ = address.partition(":")
    return bool(colon) and 1 <= len(prefix) <= 9 and prefix.isascii() and prefix.isalnum()


def parse_datetime(text: str) -> dt.datetime | None:
    """en-US ``M/d/yyyy [h:mm[:ss] AM|PM | H:mm[:ss]]`` or ISO 8601, as a naive UTC datetime."""
    text = text.strip()
    try:
        if "/" in text:
            return _parse_us(text)
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _parse_us(text: str) -> dt.datetime:
    date_part, _, time_part = text.partition(" ")
    pieces = date_part.split("/")
    if len(pieces) != 3 or not all(p.isascii() and p.isdigit() for p in pieces):
        raise ValueError(text)
    month, day, year = pieces
    if len(month) > 2 or len(day) > 2 or len(year) != 4:
        raise ValueError(text)
    hour = minute = second = 0
    time_part = time_part.strip()
    if time_part:
        clock, _, meridiem = time_part.partition(" ")
        fields = clock.split(":")
        if len(fields) not in (2, 3) or not all(
            f.isascii() and f.isdigit() and 1 <= len(f) <= 2 for f in fields
        ):
            raise ValueError(text)
        hour, minute = int(fields[0]), int(fields[1])
        second = int(fields[2]) if len(fields) == 3 else 0
        meridiem = meridiem.strip().upper()
        if meridiem:
            if meridiem not in ("AM", "PM") or not 1 <= hour <= 12:
                raise ValueError(text)
            hour = hour % 12 + (12 if meridiem == "PM" else 0)
    return dt.datetime(int(year), int(month), int(day), hour, minute, second)  # naive UTC by design


def bind(comparison: Comparison, properties: PropertyMap, *, parameter: str = "Filter") -> BoundComparison:
    """Resolve the property (UnknownFilterPropertyError); check op and value (ParameterBindingError)."""
    prop = properties.resolve(comparison.prop, parameter=parameter)
    return _Binder(comparison, prop, parameter).bind()
