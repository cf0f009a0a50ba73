"""The authorisation decision, a pure function (DESIGN §6; SEMANTICS.md §1-§4, §9).

``decide(grants, exclusive_scopes, request)`` → :class:`Decision`. Inputs are plain values: the caller's
effective, enabled, regular assignments (:class:`Grant`), every exclusive scope of the tenant, and the call
(:class:`Request`: cmdlet, supplied parameter names, whether it writes, the target as a Mapping of recipient
properties or ``None``). No I/O, no framework: the HTTP layer, the hypothesis property test and
``Test-CmdletPermission`` all call this same function.

Rules (Exchange's, with their sources):

* permissions are the union of the regular assignments (SEMANTICS §3); a call is allowed when **one**
  assignment's role has an entry for the cmdlet that allows **every** supplied parameter (§1, ROLES13) and
  whose write scope contains the target (§4) — parameters spread over two roles are not combined (the docs
  are silent, §3 [not found]; ours);
* writes: the recipient write scope is the assignment's explicit scope (custom filter, exclusive scope or
  predefined relative scope) or else the role's implicit write scope; ``None`` can't modify recipients;
  configuration writes need the implicit configuration write scope ``OrganizationConfig``;
* exclusive scopes deny: when the target matches any exclusive scope, only assignments whose exclusive scope
  also matches it may write it (EXCL13);
* reads follow the implicit read scope (write scopes do not hide objects, SCOPES13); an assignment flagged
  ``restrict_reads`` (ours) reads only what its write scope contains;
* the target must be in scope before **and** after a change (KB 2549289): the executor hook calls
  ``decide`` twice, the second time with ``phase="after"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "RELATIVE_SCOPES",
    "Decision",
    "Grant",
    "Request",
    "ScopeRule",
    "decide",
]

# Predefined relative recipient write scopes accepted on assignments (NEWRA).
RELATIVE_SCOPES = ("Organization", "MyGAL", "Self", "MyDistributionGroups", "None")

TargetKind = Literal["recipient", "config", "none"]


@dataclass(frozen=True)
class ScopeRule:
    """A management scope: ``matches(target)`` evaluates its RecipientRestrictionFilter (``cmdlets.opath``)."""

    name: str
    matches: Callable[[Mapping[str, Any]], bool] = field(compare=False, repr=False)
    exclusive: bool = False
    filter: str = ""  # the OPATH text, compiled to SQL for read-restricted listings


NOTHING_NAME = "None"


@dataclass(frozen=True)
class Grant:
    """One enabled regular assignment of the caller, flattened for the decision."""

    assignment: str
    role: str
    entries: Mapping[str, frozenset[str] | None]  # cmdlet (lower-case) → allowed parameters (lower-case)
    recipient_read: str = "Organization"
    recipient_write: str = "Organization"  # implicit write scope of the role
    config_write: str = "OrganizationConfig"
    relative_scope: str | None = None  # explicit predefined scope
    scope: ScopeRule | None = None  # explicit custom or exclusive scope
    restrict_reads: bool = False
    via: str = ""  # how the caller holds it ("role group Organization Management")


@dataclass(frozen=True)
class Request:
    cmdlet: str
    parameters: frozenset[str]
    writes: bool
    target_kind: TargetKind = "none"
    target: Mapping[str, Any] | None = None
    target_name: str = ""
    self_guid: str | None = None  # the caller's own recipient (Self / MyDistributionGroups scopes)
    phase: Literal["before", "after"] = "before"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    assignment: str | None = None  # the granting assignment when allowed
    missing: tuple[str, ...] = ()  # the parameters no single entry allows
    read_restricted: tuple[ScopeRule, ...] = ()  # scopes limiting a listing (empty: unrestricted)

    def __bool__(self) -> bool:  # pragma: no cover - guard against `if decide(...)` misuse
        raise TypeError("use Decision.allowed")


NOTHING = ScopeRule(NOTHING_NAME, lambda _target: False)


def _write_scope_contains(grant: Grant, request: Request, target: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the grant's recipient write scope contains ``target``; the name of the scope used."""
    if grant.scope is not None:
        return grant.scope.matches(target), f"scope '{grant.scope.name}'"
    relative = grant.relative_scope or grant.recipient_write
    if relative == "Organization":
        return True, "Organization"
    if relative == "None":
        return False, "None"
    if relative == "Self":
        return request.self_guid is not None and _guid(target) == request.self_guid, "Self"
    if relative == "MyDistributionGroups":
        managers = target.get("ManagedByGuids") or ()
        return request.self_guid is not None and request.self_guid in managers, "MyDistributionGroups"
    if relative == "MyGAL":  # MyGAL is a read scope; as a write scope it allows only one's own object
        return request.self_guid is not None and _guid(target) == request.self_guid, "MyGAL"
    return False, relative


def _guid(target: Mapping[str, Any]) -> str | None:
    value = target.get("Guid")
    return None if value is None else str(value).lower()


def _entry_allows(entries: Mapping[str, frozenset[str] | None], cmdlet: str, params: frozenset[str]) -> bool:
    allowed = entries.get(cmdlet)
    return allowed is None or params <= allowed


def decide(grants: Iterable[Grant], exclusive_scopes: Iterable[ScopeRule], request: Request) -> Decision:
    cmdlet = request.cmdlet.lower()
    params = frozenset(p.lower() for p in request.parameters)
    with_entry = [g for g in grants if cmdlet in g.entries]
    if not with_entry:
        return Decision(
            False,
            f"The role entry '*\\{request.cmdlet}' isn't assigned to you: none of your management roles "
            f"has an entry for {request.cmdlet}.",
        )
    with_params = [g for g in with_entry if _entry_allows(g.entries, cmdlet, params)]
    if not with_params:
        best = min(with_entry, key=lambda g: len(params - (g.entries[cmdlet] or frozenset())))
        allowed = best.entries[cmdlet] or frozenset()
        missing = tuple(sorted(p for p in request.parameters if p.lower() not in allowed))
        names = ", ".join(f"'{m}'" for m in missing)
        return Decision(
            False,
            f"A parameter cannot be used: {names} isn't in any role entry for {request.cmdlet} assigned to "
            f"you (closest: '{best.role}\\{request.cmdlet}').",
            missing=missing,
        )
    if not request.writes:
        return _read(with_params, request)
    if request.target_kind == "config":
        for g in with_params:
            if g.config_write != "None":
                return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
        return Decision(
            False,
            f"The configuration write scope of your roles with {request.cmdlet} is None "
            f"({', '.join(sorted({g.role for g in with_params}))}).",
        )
    target = request.target
    if request.target_kind != "recipient" or target is None:
        # Nothing to scope (yet): a New-* before its object exists, or a cmdlet without a recipient target.
        return Decision(
            True, f"allowed by '{with_params[0].assignment}'", assignment=with_params[0].assignment
        )
    matching_exclusive = [s for s in exclusive_scopes if s.matches(target)]
    reasons: list[str] = []
    for g in with_params:
        if matching_exclusive:
            if g.scope is None or not g.scope.exclusive or not g.scope.matches(target):
                continue
            return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
        inside, scope_name = _write_scope_contains(g, request, target)
        if inside:
            return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
        reasons.append(scope_name)
    name = request.target_name or str(target.get("Name") or "")
    if matching_exclusive:
        scopes = ", ".join(f"'{s.name}'" for s in matching_exclusive)
        return Decision(
            False,
            f"The operation on '{name}' failed because it's in the exclusive scope {scopes}, which isn't "
            f"assigned to you.",
        )
    when = "after" if request.phase == "after" else "before"
    return Decision(
        False,
        f"The operation on '{name}' failed because it's out of the current user's write scope "
        f"({', '.join(dict.fromkeys(reasons))}). The object '{name}' must be within the write scope before "
        f"and after it's modified (checked {when} the change).",
    )


def _read(grants: list[Grant], request: Request) -> Decision:
    """Implicit read scope (always Organization or wider for administrative roles); ``restrict_reads`` is ours."""
    unrestricted = [g for g in grants if not g.restrict_reads]
    if unrestricted:
        g = unrestricted[0]
        if g.recipient_read == "None" and request.target_kind == "recipient":
            return Decision(False, f"The recipient read scope of '{g.role}' is None.")
        return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
    scopes: list[ScopeRule] = []
    for g in grants:
        if g.scope is not None:
            scopes.append(g.scope)
        elif (g.relative_scope or g.recipient_write) == "Organization":
            return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
    if request.target is not None and request.target_kind == "recipient":
        for g in grants:
            inside, _ = _write_scope_contains(g, request, request.target)
            if inside:
                return Decision(True, f"allowed by '{g.assignment}'", assignment=g.assignment)
        name = request.target_name or str(request.target.get("Name") or "")
        return Decision(False, f"The object '{name}' is outside your read scope.")
    return Decision(
        True,
        f"allowed by '{grants[0].assignment}' (read-restricted)",
        assignment=grants[0].assignment,
        read_restricted=tuple(scopes) or (NOTHING,),
    )
