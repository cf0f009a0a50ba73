"""Parameter binding: JSON ``Parameters`` → typed values keyed by canonical parameter name.

PowerShell conventions survive the trip through JSON: names are case-insensitive, switches and booleans take
``true``/``"$true"``/``"True"``, multi-valued parameters take a list, a single value, or
``{"Add": [...], "Remove": [...]}`` (the JSON form of ``@{Add=…;Remove=…}``), ``ResultSize`` takes a number or
``Unlimited``. Every failure names the parameter; nothing is half-bound.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import ParameterBindingError, ParameterSetError
from ._registry import CmdletSpec, Param, ParamType

__all__ = ["UNLIMITED", "BoundParameters", "MultiValueChange", "bind_parameters", "parse_size"]

UNLIMITED = None  # ResultSize/size value meaning "no limit"

_SMTP_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TRUE = {"true", "$true", "1"}
_FALSE = {"false", "$false", "0"}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*(?:\(.*\))?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_MAX_LIST = 1000


@dataclass(frozen=True)
class MultiValueChange:
    """``@{Add=…; Remove=…}``: modify a multi-valued property instead of replacing it."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoundParameters:
    values: dict[str, Any]
    parameter_set: str

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def is_valid_smtp(value: str) -> bool:
    return len(value) <= 320 and bool(_SMTP_RE.match(value))


def parse_size(value: Any) -> int | None:
    """``Unlimited`` → None; ``"50 GB (53,687,091,200 bytes)"``, ``"50GB"``, ``1024`` → bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes, a value like '50GB', or 'Unlimited'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        if value.strip().lower() == "unlimited":
            return None
        m = _SIZE_RE.match(value)
        if m:
            unit = m.group(2).upper() if m.group(2) else None
            return int(float(m.group(1)) * _SIZE_UNITS[unit])
    raise ValueError("a size is a number of bytes, a value like '50GB', or 'Unlimited'")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ValueError("expected $true or $false")


def _as_string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a string")
    return str(value)


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected a date/time string")
    text = value.strip()
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected a date such as 2026-01-31T12:00:00Z or 1/31/2026 12:00:00 PM") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _convert_scalar(param: Param, value: Any) -> Any:
    t = param.type
    if t in (ParamType.BOOL, ParamType.SWITCH):
        return _as_bool(value)
    if t is ParamType.INT:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected an integer") from None
        if isinstance(value, float) and value != number:
            raise ValueError("expected an integer")
        if param.min_value is not None and number < param.min_value:
            raise ValueError(f"the value must be at least {param.min_value}")
        if param.max_value is not None and number > param.max_value:
            raise ValueError(f"the value must be at most {param.max_value}")
        return number
    if t is ParamType.RESULT_SIZE:
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            return UNLIMITED
        if isinstance(value, bool):
            raise ValueError("expected a positive number or Unlimited")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected a positive number or Unlimited") from None
        if number < 1:
            raise ValueError("expected a positive number or Unlimited")
        return number
    if t is ParamType.ENUM:
        text = _as_string(value)
        for candidate in param.enum:
            if candidate.lower() == text.strip().lower():
                return candidate
        raise ValueError(f"'{text}' is not valid. Valid values are: {', '.join(param.enum)}")
    if t is ParamType.GUID:
        try:
            return str(uuid.UUID(_as_string(value)))
        except ValueError:
            raise ValueError("expected a GUID") from None
    if t is ParamType.SMTP:
        text = _as_string(value).strip()
        if not is_valid_smtp(text):
            raise ValueError(f"'{text}' is not a valid SMTP address")
        return text
    if t is ParamType.DATETIME:
        return _parse_datetime(value)
    if t is ParamType.SIZE:
        return parse_size(value)
    text = _as_string(value)
    if t is ParamType.IDENTITY and not text.strip():
        raise ValueError("the identity cannot be empty")
    if param.max_length is not None and len(text) > param.max_length:
        raise ValueError(f"the value is longer than {param.max_length} characters")
    return text


def _string_list(param: Param, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if len(items) > _MAX_LIST:
        raise ValueError(f"at most {_MAX_LIST} values are accepted")
    out = []
    for item in items:
        text = _as_string(item).strip()
        if not text:
            raise ValueError("values cannot be empty")
        if param.max_length is not None and len(text) > param.max_length:
            raise ValueError(f"a value is longer than {param.max_length} characters")
        if param.enum:
            canonical = {e.lower(): e for e in param.enum}.get(text.lower())
            if canonical is None:
                raise ValueError(f"'{text}' is not valid. Valid values are: {', '.join(param.enum)}")
            text = canonical
        out.append(text)
    return tuple(out)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _convert(param: Param, value: Any) -> Any:
    if _has_nul(value):  # no directory value holds one, and PostgreSQL text cannot store it
        raise ValueError("the value contains a NUL character")
    if value is None:
        if param.nullable:
            return None
        raise ValueError("the argument is null; provide a valid value")
    if param.type is ParamType.STRING_LIST:
        if isinstance(value, dict):
            keys = {k.lower(): k for k in value}
            unknown = set(keys) - {"add", "remove"}
            if unknown or not keys:
                raise ValueError("a hashtable for a multi-valued property takes only the keys Add and Remove")
            add = _string_list(param, value[keys["add"]]) if "add" in keys else ()
            remove = _string_list(param, value[keys["remove"]]) if "remove" in keys else ()
            return MultiValueChange(add, remove)
        return _string_list(param, value)
    result = _convert_scalar(param, value)
    if param.validate is not None:
        result = param.validate(result)
    return result


def bind_parameters(spec: CmdletSpec, raw: Any) -> BoundParameters:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParameterBindingError("Parameters", "Parameters must be a JSON object of name/value pairs.")
    declared = {p.name.lower(): p for p in spec.all_params()}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        param = declared.get(str(name).lower())
        if param is None:
            raise ParameterBindingError(
                str(name), f"A parameter cannot be found that matches parameter name '{name}'."
            )
        if param.name in values:
            raise ParameterBindingError(param.name, "The parameter was specified more than once.")
        try:
            values[param.name] = _convert(param, value)
        except ValueError as exc:
            raise ParameterBindingError(param.name, str(exc)) from None
    chosen = _choose_set(spec, values)
    missing = [p.name for p in spec.params if p.mandatory and p.in_set(chosen) and p.name not in values]
    if missing:
        raise ParameterBindingError(
            missing[0],
            "Cannot process command because of one or more missing mandatory parameters: "
            + ", ".join(missing)
            + ".",
        )
    return BoundParameters(values, chosen)


def _choose_set(spec: CmdletSpec, values: dict[str, Any]) -> str:
    sets = spec.parameter_sets()
    supplied = [p for p in spec.params if p.name in values]
    candidates = [s for s in sets if all(p.in_set(s) for p in supplied)]
    if not candidates:
        raise ParameterSetError("Parameter set cannot be resolved using the specified named parameters.")
    if len(candidates) == 1:
        return candidates[0]
    # Prefer sets whose mandatory parameters are all present, then the declared default.
    complete = [
        s for s in candidates if all(p.name in values for p in spec.params if p.mandatory and p.in_set(s))
    ]
    if len(complete) == 1:
        return complete[0]
    pool = complete or candidates
    if spec.default_set in pool:
        return spec.default_set
    # Only parameters common to every set were supplied: pick the one using the fewest specific ones.
    if all(not p.sets for p in supplied) and spec.default_set is None:
        return pool[0]
    raise ParameterSetError(
        "Parameter set cannot be resolved using the specified named parameters: "
        + ", ".join(pool)
        + " all match."
    )
