"""The FastAPI application: Exchange Online's admin wire protocol (DESIGN §3) plus health and discovery.

``POST /adminapi/beta/{tenant}/InvokeCommand`` runs one cmdlet; the answer is
``{"@odata.context", "value": [...], "@odata.nextLink"?}``. Following ``@odata.nextLink`` is a POST of the same
body to that URL; the signed cursor rides in its query string (``$skiptoken``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from ..audit._service import AuditService
from ..clock import Clock, SystemClock
from ..cmdlets import CursorSigner, Registry, TenantInfo, default_registry
from ..cmdlets._executor import CallContext, Executor
from ..config import Settings
from ..directory import find_tenant
from ..errors import AuthenticationError, CommandNotFoundError, ServiceUnavailableError
from ..identity import install_identity
from ..oauth import OAuthServer, client_ip, install_oauth
from ..principal import Principal
from ..rbac import install_rbac
from ..store import Database, KeyRing, SecretBox, is_current
from ._audit_routes import install_audit_routes
from ._mailbox_audit_routes import install_mailbox_audit_routes
from ._ratelimit import RateLimiter
from ._responses import JsonResponse, install_error_handlers
from ._tenant_cache import TenantCache

__all__ = ["AppState", "create_app", "create_app_from_env"]

log = logging.getLogger("mailwarden.api")
_PREFER_RE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass
class AppState:
    settings: Settings
    clock: Clock
    db: Database
    registry: Registry
    keyring: KeyRing
    executor: Executor
    limiter: RateLimiter
    audit: AuditService

    tenants: TenantCache = field(init=False)

    def __post_init__(self) -> None:
        self.tenants = TenantCache(self._load_tenant)

    def tenant(self, ref: str) -> TenantInfo | None:
        return self.tenants.get(ref)

    def _load_tenant(self, ref: str) -> TenantInfo | None:
        with self.db.unit_of_work(write=False) as uow:
            row = find_tenant(uow.session, ref)
            return None if row is None else TenantInfo(row.id, row.name, row.initial_domain)


class CmdletInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    CmdletName: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z]+-[A-Za-z0-9]+$")
    Parameters: dict[str, Any] = Field(default_factory=dict)


class InvokeCommandRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    CmdletInput: CmdletInput


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.mailwarden
    return state


StateDep = Annotated[AppState, Depends(_state)]


def _authenticate(
    state: StateDep,
    request: Request,
    tenant: Annotated[str, Path(max_length=256)],
    authorization: Annotated[str | None, Header()] = None,
) -> tuple[TenantInfo, Principal]:
    """Only access tokens from this server's authorization server (``mailwarden.oauth``, RFC 6750 §2.1):
    signature and kid, aud, exp, iss/tid of the URL's tenant, session still active for user tokens, and
    conditional access on every call (403 naming the policy)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthenticationError("Authorization header with a Bearer token is required.")
    token = authorization[7:].strip()
    info = state.tenant(tenant)
    # Unknown tenant and another tenant's token get the same answer: tenants are not enumerable.
    if info is None:
        raise AuthenticationError("The access token is invalid.")
    oauth: OAuthServer = request.app.state.oauth
    principal = oauth.authenticate(
        token, tenant_id=info.id, base_url=str(request.base_url), ip=client_ip(request)
    )
    return info, principal


CallerDep = Annotated[tuple[TenantInfo, Principal], Depends(_authenticate)]


def _base_url(state: AppState, request: Request) -> str:
    return (state.settings.public_base_url or str(request.base_url)).rstrip("/")


def create_app(settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> FastAPI:
    clock = clock or SystemClock()
    db = db or Database(settings.resolved_database_url())
    keyring = KeyRing(db, SecretBox(settings.resolved_secret_key()), clock)

    def _lookup(kid: str) -> bytes | None:
        key = keyring.get("cursor", kid)
        return None if key is None else key.secret

    def _current() -> tuple[str, bytes]:
        key = keyring.current("cursor")
        return key.kid, key.secret

    registry = default_registry()
    audit = AuditService(db, keyring, clock)
    try:
        # Keys are created up front, never inside a request's write transaction.
        keyring.current("cursor")
    except SQLAlchemyError:
        # Not migrated yet: /readyz says so; nothing else can work until `mailwarden migrate` has run.
        log.warning("database not ready at start-up; signing keys not loaded")
    executor = Executor(
        db,
        registry,
        CursorSigner(_current, _lookup),
        clock,
        default_result_size=settings.default_result_size,
        audit=audit,
    )
    install_rbac(executor)
    state = AppState(
        settings=settings,
        clock=clock,
        db=db,
        registry=registry,
        keyring=keyring,
        executor=executor,
        limiter=RateLimiter(db, clock, settings.rate_limit_per_minute),
        audit=audit,
    )
    app = FastAPI(
        title="mailwarden admin API",
        version="0.1.0",
        description="Exchange Online compatible admin API (InvokeCommand) served by mailwarden.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.mailwarden = state
    install_error_handlers(app)
    install_identity(app, state)
    install_oauth(app, state)
    install_mailbox_audit_routes(app, state)
    install_audit_routes(app, state)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JsonResponse:
        return JsonResponse({"status": "ok"})

    @app.get("/readyz", tags=["health"])
    def readyz() -> JsonResponse:
        try:
            state.db.ping()
            current = is_current(state.db)
        except Exception as exc:  # any database failure means "not ready"
            raise ServiceUnavailableError("The database is not reachable.") from exc
        if not current:
            raise ServiceUnavailableError("Database migrations are not current; run `mailwarden migrate`.")
        return JsonResponse({"status": "ready"})

    @app.get("/adminapi/beta/{tenant}/cmdlets", tags=["discovery"])
    def list_cmdlets(caller: CallerDep) -> JsonResponse:
        return JsonResponse({"value": [spec.describe() for spec in state.registry]})

    @app.post(
        "/adminapi/beta/{tenant}/InvokeCommand",
        tags=["admin"],
        responses={
            400: {"description": "Bad parameter, filter or cursor"},
            401: {"description": "Missing or invalid token"},
            403: {"description": "Denied"},
            404: {"description": "Object not found"},
            409: {"description": "Object already exists"},
            429: {"description": "Throttled (Retry-After)"},
        },
    )
    def invoke_command(
        body: InvokeCommandRequest,
        request: Request,
        caller: CallerDep,
        skiptoken: Annotated[str | None, Query(alias="$skiptoken", max_length=4096)] = None,
        prefer: Annotated[str | None, Header()] = None,
        client_request_id: Annotated[str | None, Header(alias="client-request-id", max_length=128)] = None,
    ) -> Response:
        tenant, principal = caller
        state.limiter.hit(principal.key)
        spec = state.registry.get(body.CmdletInput.CmdletName)
        if spec is None:
            raise CommandNotFoundError(
                f"The term '{body.CmdletInput.CmdletName}' is not recognized as a name of a cmdlet."
            )
        page_size = state.settings.default_page_size
        if prefer:
            m = _PREFER_RE.search(prefer)
            if m:
                page_size = max(1, min(int(m.group(1)), state.settings.max_page_size))
        peer = request.client
        context = CallContext(
            client_ip=peer.host if peer else None,
            client_port=peer.port if peer else None,
            client_request_id=client_request_id,
        )
        result = state.executor.run(
            spec,
            body.CmdletInput.Parameters,
            tenant=tenant,
            principal=principal,
            page_size=page_size,
            cursor=skiptoken,
            context=context,
        )
        base = _base_url(state, request)
        tenant_ref = request.path_params["tenant"]
        payload: dict[str, Any] = {
            "@odata.context": f"{base}/adminapi/beta/{quote(tenant_ref)}/$metadata#{spec.object_type}",
            "value": result.value,
        }
        if result.warnings:
            payload["@adminapi.warnings"] = result.warnings
        if result.next_cursor is not None:
            payload["@odata.nextLink"] = (
                f"{base}/adminapi/beta/{quote(tenant_ref)}/InvokeCommand?$skiptoken={quote(result.next_cursor)}"
            )
        headers = {"Preference-Applied": f"odata.maxpagesize={page_size}"}
        if client_request_id:
            headers["client-request-id"] = client_request_id
        return JsonResponse(payload, headers=headers)

    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: settings from MAILWARDEN_* environment variables."""
    return create_app(Settings())
