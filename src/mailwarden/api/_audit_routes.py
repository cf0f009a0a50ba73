"""Audit HTTP routes: a pull feed for SIEMs, flavoured after the Office 365 Management Activity API
(``/api/v1.0/{tenant}/activity/feed/...``), and tamper evidence per RFC 6962 (signed tree heads, inclusion and
consistency proofs, the heads' Ed25519 public keys by key id).

Feed contract — a consumer cannot miss records. ``GET .../activity/feed/records?startSeq=N&limit=M`` returns
records with SequenceNumber N, N+1, … (contiguous, in order) and ``nextSeq``; the consumer stores ``nextSeq``
and asks again. Sequence order equals commit order per tenant: every append locks the tenant's
``audit_log_state`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has a single writer) and holds that
lock until its transaction commits or rolls back; the next append cannot read ``next_seq`` before then, and a
rolled-back append gives its number back. So record k+1 is only ever assigned after record k is durable, and
any snapshot that sees k+1 sees k — there is never a gap that fills later. Records older than the retention
are pruned; asking below ``prunedBelow`` answers 410 so the gap is explicit, never silent.

Authentication is InvokeCommand's (``CallerDep``). Every feed read is itself recorded (RecordType 1002,
MailwardenAuditAccess) in the same transaction as the read, so a consumer also sees its own reads.
"""

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from sqlalchemy import select

from ..audit._log import TreeReader
from ..audit._proofs import (
    consistency_document,
    head_document,
    inclusion_document,
    latest_head,
    log_state,
    public_keys,
)
from ..audit._records import RecordType, new_record
from ..errors import ApiError
from ..store._audit_models import AuditRecord
from ._responses import JsonResponse

__all__ = ["FEED_MAX_LIMIT", "install_audit_routes"]

FEED_MAX_LIMIT = 1000


class PrunedRecordsError(ApiError):
    code = "AuditRecordsPrunedException"
    status = 410


def install_audit_routes(app: FastAPI, state: Any) -> None:
    from ._app import AppState, CallerDep  # the app module imports this one

    st: AppState = state
    audit = st.audit

    def _access_record(request: Request, tenant_id: str, principal: Any, operation: str) -> dict[str, Any]:
        peer = request.client
        return new_record(
            record_type=RecordType.MailwardenAuditAccess,
            operation=operation,
            tenant_id=tenant_id,
            when=audit.now(),
            principal=principal,
            user_id=principal.display_name,
            workload="Mailwarden",
            result_status="Succeeded",
            client_ip=peer.host if peer else None,
            client_port=peer.port if peer else None,
            client_request_id=request.headers.get("client-request-id"),
            extra={"Parameters": [{"Name": k, "Value": v} for k, v in request.query_params.items()]},
        )

    @app.get("/api/v1.0/{tenant}/activity/feed/records", tags=["audit"])
    def feed_records(
        request: Request,
        caller: CallerDep,
        # Sequence numbers are BIGINT: bounded so startSeq + limit stays a valid one (no overflow in SQL).
        start_seq: Annotated[int, Query(alias="startSeq", ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=FEED_MAX_LIMIT)] = FEED_MAX_LIMIT,
    ) -> JsonResponse:
        tenant, principal = caller
        st.limiter.hit(principal.key)
        with st.db.unit_of_work(write=True) as uow:
            session = uow.session
            log = log_state(session, tenant.id)
            pruned_below = 0 if log is None else int(log.pruned_below)
            if start_seq < pruned_below:
                raise PrunedRecordsError(
                    f"Records below SequenceNumber {pruned_below} were pruned (retention); "
                    f"resume from startSeq={pruned_below}."
                )
            rows = list(
                session.execute(
                    select(AuditRecord.seq, AuditRecord.data)
                    .where(
                        AuditRecord.tenant_id == tenant.id,
                        AuditRecord.seq >= start_seq,
                        AuditRecord.seq < start_seq + limit,
                    )
                    .order_by(AuditRecord.seq)
                )
            )
            records = [data for _, data in rows]
            next_seq = start_seq + len(rows)
            head = latest_head(session, audit, tenant.id)
            audit.record(session, tenant.id, _access_record(request, tenant.id, principal, "ReadAuditFeed"))
        return JsonResponse(
            {
                "tenantId": tenant.id,
                "contentType": "Audit.General",
                "startSeq": start_seq,
                "nextSeq": next_seq,
                "prunedBelow": pruned_below,
                "records": records,
                "signedHead": None if head is None else head.to_json(),
            }
        )

    @app.get("/api/v1.0/{tenant}/audit/heads/latest", tags=["audit"])
    def heads_latest(caller: CallerDep) -> JsonResponse:
        tenant, _ = caller
        with st.db.unit_of_work(write=False) as uow:
            head = latest_head(uow.session, audit, tenant.id)
            size = TreeReader(uow.session, tenant.id).size()
        return JsonResponse({**head_document(head), "CurrentTreeSize": size})

    @app.get("/api/v1.0/{tenant}/audit/proofs/inclusion", tags=["audit"])
    def proof_inclusion(
        caller: CallerDep,
        record_id: Annotated[str, Query(alias="recordId", max_length=64, pattern=r"^[0-9A-Za-z._:-]+$")],
        tree_size: Annotated[int | None, Query(alias="treeSize", ge=1)] = None,
    ) -> JsonResponse:
        tenant, _ = caller
        with st.db.unit_of_work(write=False) as uow:
            doc = inclusion_document(uow.session, audit, tenant.id, record_id, tree_size)
        return JsonResponse(doc)

    @app.get("/api/v1.0/{tenant}/audit/proofs/consistency", tags=["audit"])
    def proof_consistency(
        caller: CallerDep,
        first: Annotated[int, Query(ge=0)],
        second: Annotated[int, Query(ge=0)],
    ) -> JsonResponse:
        tenant, _ = caller
        with st.db.unit_of_work(write=False) as uow:
            doc = consistency_document(uow.session, audit, tenant.id, first, second)
        return JsonResponse(doc)

    @app.get("/api/v1.0/{tenant}/audit/keys", tags=["audit"])
    def audit_keys(caller: CallerDep) -> JsonResponse:
        with st.db.unit_of_work(write=False) as uow:
            keys = public_keys(uow.session, audit)
        return JsonResponse({"keys": keys})
