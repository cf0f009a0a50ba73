"""Audit cmdlets: Search-UnifiedAuditLog (Exchange Online's, over our Office 365 Management Activity API
records) and ours for tamper evidence (RFC 6962 signed tree heads, inclusion and consistency proofs) and
retention.

Search-UnifiedAuditLog is ordered by (CreationTime, SequenceNumber) and keyset-paged over ``seq``: the log
never lets CreationTime decrease in seq (see :mod:`mailwarden.audit._search`), so ties within one second are
broken by append order rather than by record Id. ``ResultCount`` is the exact total (COUNT, or arithmetic
for a date-only search), ``ResultIndex`` the 1-based position in the whole result; there are no caps.
Each search is itself recorded (RecordType 1002, who searched for what) on its first page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..audit._canonical import canonical_json
from ..audit._log import lock_state
from ..audit._proofs import (
    audit_service,
    consistency_document,
    head_document,
    inclusion_document,
    latest_head,
    log_state,
)
from ..audit._records import RecordType
from ..audit._search import SearchCriteria, SearchPlan, plan_search
from ..errors import NotFoundError, ParameterBindingError
from ..store._audit_models import AuditRecord
from ._invocation import Invocation, Listing
from ._registry import CmdletSpec, Param
from ._registry import ParamType as P

__all__ = ["AUDIT_CMDLETS"]

RECORD_TYPE_NAMES = tuple(t.name for t in RecordType)
DEFAULT_RETENTION_DAYS = 365


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if value else ()


# Operations recorded by other parts than cmdlets (sign-ins, mailbox audit, the log itself).
KNOWN_OPERATIONS = (
    "MailItemsAccessed",
    "PruneAuditLog",
    "ReadAuditFeed",
    "UpdateInboxRules",
    "UserLoggedIn",
    "UserLoginFailed",
)


def _canonical_operations(names: tuple[str, ...]) -> tuple[str, ...]:
    """Operations match case-insensitively, as in Exchange: map each to its recorded spelling (cmdlet names
    from the registry, and our known operations) so the search can use the operation index."""
    from ._catalog import default_registry

    spelling = {n.lower(): n for n in (*default_registry().names(), *KNOWN_OPERATIONS)}
    return tuple(dict.fromkeys(spelling.get(n.lower(), n) for n in names))


def _criteria(inv: Invocation) -> SearchCriteria:
    start: datetime = inv.get("StartDate")
    end: datetime = inv.get("EndDate")
    if end <= start:
        raise ParameterBindingError("EndDate", "The EndDate must be later than the StartDate.")
    record_type = inv.get("RecordType")
    return SearchCriteria(
        start=start,
        end=end,
        record_types=(RecordType[record_type],) if record_type else (),
        operations=_canonical_operations(_tuple(inv.get("Operations"))),
        user_ids=_tuple(inv.get("UserIds")),
        object_ids=_tuple(inv.get("ObjectIds")),
        ip_addresses=_tuple(inv.get("IPAddresses")),
        free_text=inv.get("FreeText") or None,
    )


def _search_row(record: AuditRecord, index: int, count: int) -> dict[str, Any]:
    data = record.data
    try:
        type_name = RecordType(record.record_type).name
    except ValueError:
        type_name = str(record.record_type)
    return {
        "RecordType": type_name,
        "CreationDate": record.creation_time.strftime("%Y-%m-%dT%H:%M:%S") + "Z",
        "UserIds": str(data.get("UserId") or data.get("UserKey") or ""),
        "Operations": record.operation,
        # Canonical JSON: the leaf is SHA-256(0x00 || these bytes), so a reader can check it directly.
        "AuditData": canonical_json(data).decode(),
        "ResultIndex": index,
        "ResultCount": count,
        "Identity": record.record_id,
    }


def _search(inv: Invocation) -> Listing:
    plan: SearchPlan = plan_search(inv.session, inv.tenant.id, _criteria(inv))

    def serialize(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
        count = plan.count(session)
        positions = plan.positions(session, [int(r.seq) for r in rows])
        return [_search_row(r, i, count) for r, i in zip(rows, positions, strict=True)]

    return Listing(plan.statement(), AuditRecord.seq, serialize)


def _check_org(inv: Invocation) -> None:
    """The optional -Identity of the organization-wide audit objects: the tenant's id, name or domain."""
    value = inv.get("Identity")
    if value is None:
        return
    known = {inv.tenant.id.lower(), inv.tenant.name.lower(), inv.tenant.initial_domain.lower()}
    if str(value).strip().lower() not in known:
        raise NotFoundError(
            f"The operation couldn't be performed because object '{value}' couldn't be found on "
            f"'{inv.tenant.initial_domain}'."
        )


def _tree_head(inv: Invocation) -> dict[str, Any]:
    _check_org(inv)
    service = audit_service(inv.session)
    head = latest_head(inv.session, service, inv.tenant.id)
    return head_document(head)


def _new_tree_head(inv: Invocation) -> dict[str, Any]:
    _check_org(inv)
    service = audit_service(inv.session)
    lock_state(inv.session, inv.tenant.id)
    inv.session.flush()
    return head_document(service.sign_head(inv.session, inv.tenant.id))


def _inclusion(inv: Invocation) -> dict[str, Any]:
    return inclusion_document(
        inv.session, audit_service(inv.session), inv.tenant.id, inv.get("RecordId"), inv.get("TreeSize")
    )


def _consistency(inv: Invocation) -> dict[str, Any]:
    return consistency_document(
        inv.session,
        audit_service(inv.session),
        inv.tenant.id,
        inv.get("FirstTreeSize"),
        inv.get("SecondTreeSize"),
    )


def _retention_view(inv: Invocation) -> dict[str, Any]:
    state = log_state(inv.session, inv.tenant.id)
    return {
        "Identity": inv.tenant.initial_domain,
        "RetentionDays": DEFAULT_RETENTION_DAYS if state is None else int(state.retention_days),
        "PrunedBelow": 0 if state is None else int(state.pruned_below),
        "TreeSize": 0 if state is None else int(state.next_seq),
    }


def _get_retention(inv: Invocation) -> dict[str, Any]:
    _check_org(inv)
    return _retention_view(inv)


def _set_retention(inv: Invocation) -> dict[str, Any]:
    _check_org(inv)
    state = lock_state(inv.session, inv.tenant.id)
    state.retention_days = int(inv.get("Days"))
    return _retention_view(inv)


_LIST = P.STRING_LIST
_ORG = Param("Identity", P.IDENTITY, help="The organization (tenant id, name or domain); optional")

AUDIT_CMDLETS: tuple[CmdletSpec, ...] = (
    CmdletSpec(
        "Search-UnifiedAuditLog",
        (
            Param("StartDate", P.DATETIME, mandatory=True, help="UTC; inclusive"),
            Param("EndDate", P.DATETIME, mandatory=True, help="UTC; exclusive"),
            Param("RecordType", P.ENUM, enum=RECORD_TYPE_NAMES),
            Param("Operations", _LIST, max_length=128),
            Param("UserIds", _LIST, max_length=320),
            Param("ObjectIds", _LIST, max_length=512),
            Param("IPAddresses", _LIST, max_length=64),
            Param("FreeText", P.STRING, max_length=256, help="Searched in the record's JSON"),
        ),
        _search,
        writes=False,
        object_type="UnifiedAuditLogRecord",
        description="Searches the unified audit log (exact counts, no result caps).",
        pageable=True,
        extra={"audit_reads": True},
    ),
    CmdletSpec(
        "Get-AuditLogTreeHead",
        (_ORG,),
        _tree_head,
        writes=False,
        object_type="AuditLogTreeHead",
        description="Shows the latest signed tree head of the audit log (RFC 6962, Ed25519).",
    ),
    CmdletSpec(
        "Update-AuditLogTreeHead",
        (_ORG,),
        _new_tree_head,
        writes=True,
        object_type="AuditLogTreeHead",
        description="Signs a tree head over the audit log as it is now.",
    ),
    CmdletSpec(
        "Get-AuditLogInclusionProof",
        (
            Param("RecordId", P.GUID, mandatory=True),
            Param("TreeSize", P.INT, min_value=1),
        ),
        _inclusion,
        writes=False,
        object_type="AuditLogInclusionProof",
        description="Proves that a record is in the audit log (RFC 6962 audit path).",
    ),
    CmdletSpec(
        "Get-AuditLogConsistencyProof",
        (
            Param("FirstTreeSize", P.INT, mandatory=True, min_value=0),
            Param("SecondTreeSize", P.INT, mandatory=True, min_value=0),
        ),
        _consistency,
        writes=False,
        object_type="AuditLogConsistencyProof",
        description="Proves that an older audit log is a prefix of a newer one (RFC 6962).",
    ),
    CmdletSpec(
        "Get-AuditLogRetention",
        (_ORG,),
        _get_retention,
        writes=False,
        object_type="AuditLogRetention",
        description="Shows how long audit records are kept before `mailwarden audit prune` removes them.",
    ),
    CmdletSpec(
        "Set-AuditLogRetention",
        (_ORG, Param("Days", P.INT, mandatory=True, min_value=1, max_value=36500)),
        _set_retention,
        writes=True,
        object_type="AuditLogRetention",
        description="Changes how long audit records are kept (an audit-control change, always recorded).",
    ),
)
