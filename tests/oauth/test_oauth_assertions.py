"""private_key_jwt client authentication (RFC 7523 §3, OIDC Core §9) through the token endpoint: every rule of
``_assertions`` is exercised with a real certificate and real signatures, and each refusal must be an OAuth
``invalid_client`` answered with HTTP 401 and no stack trace (RFC 6749 §5.2)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock, utcnow
from mailwarden.oauth import register_app
from mailwarden.oauth._assertions import ASSERTION_TYPE
from mailwarden.rbac import add_principal_to_role_groups
from mailwarden.store import Database
from mailwarden.store._oauth_models import OAuthAssertionJti

from conftest import TenantHandle

SCOPE = "api://mailwarden/.default"


class Signer:
    """An app's certificate and key; builds assertions with any header/claims a test wants."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nightly job")])
        start = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)  # FakeClock starts at 2026-01-01
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        der = self.cert.public_bytes(serialization.Encoding.DER)
        # MSAL's form: base64url of the SHA-1 thumbprint, with padding.
        self.x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode()  # noqa: S324
        self.jwk = RSAKey.import_key(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def assertion(
        self, client_id: str, aud: Any, now: float, *, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        body: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + 600,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        for name in [k for k, v in body.items() if v is None]:
            del body[name]
        head = {"alg": "RS256", "typ": "JWT", "x5t": self.x5t} if header is None else header
        return jwt.encode(head, body, self.jwk, algorithms=[head.get("alg", "RS256")])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


class Env:
    """The real app (real identity service, real token endpoint) and a tenant."""

    def __init__(self, client: TestClient, tenant: TenantHandle, clock: FakeClock, db: Database) -> None:
        self.client = client
        self.clock = clock
        self.db = db
        self.tenant_id = tenant.id
        self.domain = tenant.domain

    def register_app(self, *, cert_pem: bytes) -> tuple[str, str | None]:
        with self.db.unit_of_work() as uow:
            made = register_app(
                uow.session, self.tenant_id, name="Nightly job", now=utcnow(self.clock), cert_pem=cert_pem
            )
            add_principal_to_role_groups(
                uow.session, self.tenant_id, "app", made[0], ["Organization Management"]
            )
        return made

    def token(self, **form: str) -> Any:
        return self.client.post(f"/{self.domain}/oauth2/v2.0/token", data=form)

    def invoke(self, token: str) -> Any:
        return self.client.post(
            f"/adminapi/beta/{self.domain}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
def env(app_client: TestClient, tenant: TenantHandle, clock: FakeClock, db: Database) -> Env:
    return Env(app_client, tenant, clock, db)


def _endpoint(env: Env) -> str:
    return f"http://testserver/{env.domain}/oauth2/v2.0/token"


def _post(env: Env, client_id: str, assertion: str) -> Any:
    return env.token(
        grant_type="client_credentials",
        scope=SCOPE,
        client_id=client_id,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=assertion,
    )


def _refused(response: Any, fragment: str = "") -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client", body
    assert fragment in body["error_description"], body
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def _now(env: Env) -> float:
    return env.clock.now().timestamp()


@pytest.fixture
def app_cert(env: Env) -> tuple[str, Signer]:
    signer = Signer()
    client_id, _ = env.register_app(cert_pem=signer.pem)
    return client_id, signer


def test_valid_assertion_then_jti_reuse_with_other_claims_refused(
    env: Env,
    app_cert: tuple[str, Signer],
) -> None:
    client_id, signer = app_cert
    now = _now(env)
    first = signer.assertion(client_id, _endpoint(env), now, jti="job-1")
    ok = _post(env, client_id, first)
    assert ok.status_code == 200, ok.text
    assert env.invoke(ok.json()["access_token"]).status_code == 200
    # MSAL re-sends the very same assertion while it is valid: still accepted (see _assertions).
    assert _post(env, client_id, first).status_code == 200
    # Same jti, otherwise a different assertion (other iat/exp): a replay attempt, refused (RFC 7523 §3.7).
    env.clock.advance(5)
    again = signer.assertion(client_id, _endpoint(env), _now(env), jti="job-1")
    assert again != first
    _refused(_post(env, client_id, again), "jti")
    shifted = signer.assertion(client_id, _endpoint(env), now, jti="job-1", exp=int(now) + 300)
    _refused(_post(env, client_id, shifted), "jti")


def test_jti_store_is_per_client_and_pruned_after_expiry(
    env: Env,
    app_cert: tuple[str, Signer],
) -> None:
    client_id, signer = app_cert
    other_signer = Signer()
    other_id, _ = env.register_app(cert_pem=other_signer.pem)
    now = _now(env)
    assert (
        _post(env, client_id, signer.assertion(client_id, _endpoint(env), now, jti="shared")).status_code
        == 200
    )
    # Another client using the same jti is not a replay of the first client's assertion.
    second = other_signer.assertion(other_id, _endpoint(env), now, jti="shared")
    assert _post(env, other_id, second).status_code == 200

    def rows(cid: str) -> int:
        with env.db.unit_of_work(write=False) as uow:
            return int(
                uow.session.scalar(
                    select(func.count())
                    .select_from(OAuthAssertionJti)
                    .where(OAuthAssertionJti.client_id == cid)
                )
                or 0
            )

    assert rows(client_id) == rows(other_id) == 1
    # 600 s lifetime + 60 s leeway later the assertions can never pass again; the next request prunes them.
    env.clock.advance(661)
    fresh = signer.assertion(client_id, _endpoint(env), _now(env))
    assert _post(env, client_id, fresh).status_code == 200
    assert rows(other_id) == 0
    assert rows(client_id) == 1  # only the fresh one
    # The expired original is refused for being expired, not accepted from a stale row.
    _refused(_post(env, other_id, second), "expired")


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("{base}/{tenant_id}/oauth2/v2.0/token", True),
        ("{base}/{domain}/oauth2/v2.0/token", True),
        ("{base}/{tenant_id}/v2.0", True),  # the issuer identifier (rfc7523bis), see _assertions
        ("{base}/{domain}/oauth2/v2.0/authorize", False),
        ("{base}/{domain}/oauth2/v2.0/devicecode", False),
        ("{base}/other.onmicrosoft.com/oauth2/v2.0/token", False),
        ("{base}/00000000-0000-0000-0000-000000000000/v2.0", False),
        ("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token", False),
        ("http://evil.example/{domain}/oauth2/v2.0/token", False),
        (["{base}/{domain}/oauth2/v2.0/token", "https://other.example/token"], False),
        (None, False),
    ],
)
def test_audience(
    env: Env,
    app_cert: tuple[str, Signer],
    aud: Any,
    accepted: bool,
) -> None:
    client_id, signer = app_cert
    values = {"base": "http://testserver", "tenant_id": env.tenant_id, "domain": env.domain}
    if isinstance(aud, str):
        aud = aud.format(**values)
    elif isinstance(aud, list):
        aud = [a.format(**values) for a in aud]
    response = _post(env, client_id, signer.assertion(client_id, aud, _now(env)))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        _refused(response, "aud")


def test_time_claims(env: Env, app_cert: tuple[str, Signer]) -> None:
    client_id, signer = app_cert
    now = int(_now(env))
    aud = _endpoint(env)

    def post(**claims: Any) -> Any:
        return _post(env, client_id, signer.assertion(client_id, aud, now, **claims))

    # Exactly 10 minutes is Entra's (and MSAL's) lifetime; one second more is refused, as is 11 minutes.
    assert post(iat=now, exp=now + 600).status_code == 200
    _refused(post(iat=now, exp=now + 601), "10 minutes")
    _refused(post(iat=now, exp=now + 660), "10 minutes")
    _refused(post(iat=now - 3600, nbf=now - 3600, exp=now + 3600), "10 minutes")
    _refused(post(iat=None, nbf=None, exp=now + 300), "iat")
    # exp in the past (beyond the 60 s clock-skew leeway).
    _refused(post(iat=now - 400, nbf=now - 400, exp=now - 120), "expired")
    # nbf / iat in the future (beyond the leeway).
    _refused(post(iat=now, nbf=now + 300, exp=now + 500), "not valid yet")
    _refused(post(iat=now + 300, nbf=None, exp=now + 500), "not valid yet")
    # Types: strings and booleans are not NumericDate values (RFC 7519 §2).
    _refused(post(exp=str(now + 300)))
    _refused(post(iat=True, nbf=None))
    _refused(post(jti=None), "jti")


def test_issuer_subject_and_key_selection(env: Env, app_cert: tuple[str, Signer]) -> None:
    client_id, signer = app_cert
    now = _now(env)
    aud = _endpoint(env)
    other = str(uuid.uuid4())
    _refused(_post(env, client_id, signer.assertion(client_id, aud, now, iss=other)), "iss and sub")
    _refused(_post(env, client_id, signer.assertion(client_id, aud, now, sub=other)), "iss and sub")
    _refused(
        _post(env, client_id, signer.assertion(client_id, aud, now, iss=other, sub=other)), "iss and sub"
    )
    # A certificate that is not registered for this client (right format, unknown thumbprint) …
    stranger = Signer()
    _refused(
        _post(
            env,
            client_id,
            stranger.assertion(client_id, aud, now, header={"alg": "RS256", "x5t": stranger.x5t}),
        ),
        "x5t",
    )
    # … the registered thumbprint with a stranger's key (signature check) …
    forged = stranger.assertion(client_id, aud, now, header={"alg": "RS256", "x5t": signer.x5t})
    _refused(_post(env, client_id, forged), "signature")
    # … and a header naming the key by kid only (we match certificates by thumbprint, as Entra does).
    _refused(
        _post(
            env, client_id, signer.assertion(client_id, aud, now, header={"alg": "RS256", "kid": signer.x5t})
        ),
        "x5t",
    )


def test_alg_none_and_hmac_refused(env: Env, app_cert: tuple[str, Signer]) -> None:
    client_id, signer = app_cert
    now = int(_now(env))
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": _endpoint(env),
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    _refused(_post(env, client_id, _unsigned({"alg": "none", "x5t": signer.x5t}, claims)), "RS256")
    _refused(_post(env, client_id, _unsigned({"alg": "None", "x5t": signer.x5t}, claims)), "RS256")
    # Algorithm confusion: HS256 keyed with the public certificate's PEM (public knowledge).
    header = {"alg": "HS256", "typ": "JWT", "x5t": signer.x5t}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(signer.pem, signing_input.encode(), hashlib.sha256).digest()
    _refused(_post(env, client_id, f"{signing_input}.{_b64(mac)}"), "RS256")
    # A well-formed RS256 assertion still works after all that (the refusals consumed nothing).
    assert _post(env, client_id, signer.assertion(client_id, _endpoint(env), now)).status_code == 200
    # Garbage is refused the same way, never a 500.
    for junk in ("a.b.c", "not-a-jwt", "e30.e30.", "x" * 40000):
        _refused(_post(env, client_id, junk))
