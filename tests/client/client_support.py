"""Support for the client tests: a real ``mailwarden serve --tls`` process on a prepared data dir (tenant,
seeded mailboxes, a certificate app, a user), a TLS-terminating fault-injecting TCP proxy, a person's
browser (httpx with cookies) that signs in and approves device codes, and certificate generation."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailwarden.clock import SystemClock, utcnow
from mailwarden.config import Settings
from mailwarden.demo import bulk_mailboxes
from mailwarden.directory import create_tenant
from mailwarden.identity import IdentityService, TotpParams, hotp, time_step
from mailwarden.oauth import ensure_builtin_clients, ensure_tls, register_app
from mailwarden.rbac import add_principal_to_role_groups
from mailwarden.store import Database, upgrade

SECRET = "test-secret-key-0123456789abcdef-0123456789"
ADMINS = "Organization Management"
PASSWORD = "correct horse battery staple 42"  # test account password (not a real secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_certificate(common_name: str = "nightly job") -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for an app credential."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class Prepared:
    data_dir: Path
    tenant_id: str
    domain: str
    cli_client_id: str
    app_client_id: str
    cert_pem: bytes
    key_pem: bytes
    upn: str
    ca: Path
    totp_secret: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "MAILWARDEN_DATA_DIR": str(self.data_dir),
            "MAILWARDEN_SECRET_KEY": SECRET,
            "MAILWARDEN_LOG_LEVEL": "warning",
            "MAILWARDEN_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        env.pop("MAILWARDEN_DATABASE_URL", None)
        env.update(extra)
        return env


def prepare(data_dir: Path, *, mailboxes: int = 200, domain: str = "contoso.onmicrosoft.com") -> Prepared:
    """A migrated SQLite database with a tenant, ``mailboxes`` user mailboxes, a certificate app, a user
    with a password, and the local TLS CA."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(env="dev", data_dir=data_dir, secret_key=SECRET)
    db = Database(settings.resolved_database_url())
    upgrade(db)
    now = utcnow(SystemClock())
    cert_pem, key_pem = make_certificate()
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="Contoso", domain=domain, now=now)
        cli = ensure_builtin_clients(uow.session, tenant.id, now=now)
        app_id, _ = register_app(
            uow.session, tenant.id, name="nightly job", now=now, cert_pem=cert_pem,
            role_groups=("Organization Management",),
        )  # fmt: skip
        add_principal_to_role_groups(uow.session, tenant.id, "app", app_id, [ADMINS])
        bulk_mailboxes(uow.session, tenant.id, mailboxes, now=now)
        tenant_id = tenant.id
    upn = f"admin@{domain}"
    identity = IdentityService(db, secret_key=SECRET.encode())
    user = identity.create_user(tenant_id, upn, PASSWORD, role_groups=[ADMINS])
    totp = identity.operator_enroll_totp(tenant_id, user.user_id).secret_base32
    with db.unit_of_work() as uow:
        add_principal_to_role_groups(uow.session, tenant_id, "user", user.user_id, [ADMINS])
    db.dispose()
    files = ensure_tls(data_dir)
    return Prepared(data_dir, tenant_id, domain, cli, app_id, cert_pem, key_pem, upn, files.ca_cert, totp)


class Server:
    """``python -m mailwarden serve --tls`` on a fixed port; ``restart()`` keeps the port and the data."""

    def __init__(self, prepared: Prepared, *, port: int | None = None, **env: str) -> None:
        self.prepared = prepared
        self.port = port or free_port()
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailwarden", "serve", "--tls", "--port", str(self.port)],
            env=self.prepared.env(**self.extra_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if (
                    httpx.get(
                        f"{self.url}/healthz",
                        timeout=1,
                        verify=ssl.create_default_context(cafile=str(self.prepared.ca)),
                    ).status_code
                    == 200
                ):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in 60 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1


@contextmanager
def running(prepared: Prepared, **env: str) -> Iterator[Server]:
    server = Server(prepared, **env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- a person with a browser --------------------------------------------------------------------------------


def browser(ca: Path) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), follow_redirects=True, timeout=30)


def sign_in(web: httpx.Client, base: str, prepared: Prepared) -> None:
    """Password, then the TOTP code (the account is an administrator: MFA is required)."""
    tenant = prepared.domain
    page = web.get(f"{base}/{tenant}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    ret = f"/{tenant}/login/account"
    mfa = web.post(
        f"{base}/{tenant}/login",
        data={"csrf": csrf.group(1), "username": prepared.upn, "password": PASSWORD, "return_to": ret},
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', mfa.text)
    assert csrf, mfa.text
    assert 'name="code"' in mfa.text, mfa.text
    done = web.post(
        f"{base}/{tenant}/login/mfa",
        data={
            "csrf": csrf.group(1),
            "method": "totp",
            "code": fresh_totp(prepared.totp_secret),
            "return_to": ret,
        },
    )
    assert done.status_code == 200, done.text
    assert 'name="code"' not in done.text, done.text


def approve_device(web: httpx.Client, base: str, tenant: str, user_code: str) -> None:
    page = web.get(f"{base}/{tenant}/device", params={"user_code": user_code})
    csrf = re.search(r"name=csrf_token value='([0-9a-f]+)'", page.text)
    assert csrf, page.text
    done = web.post(
        f"{base}/{tenant}/device",
        data={"csrf_token": csrf.group(1), "user_code": user_code, "action": "approve"},
    )
    assert "Device signed in" in done.text, done.text


# --- fault-injecting proxy ------------------------------------------------------------------------------------


@dataclass
class FaultPlan:
    """Which InvokeCommand requests to spoil: request numbers (1-based, InvokeCommand only) → fault kind,
    ``"429"``, ``"503"``, ``"401"``, ``"drop"`` (close mid-response) or ``"reset"`` (close before answering)."""

    faults: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    invokes: int = 0
    passed: int = 0


_RAW = {
    "429": (
        "429 Too Many Requests",
        {"Retry-After": "1"},
        b'{"error":{"code":"ThrottlingException","message":"Injected throttle."}}',
    ),
    "503": ("503 Service Unavailable", {}, b"<html>upstream unavailable (injected)</html>"),
    "401": (
        "401 Unauthorized",
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        b'{"error":{"code":"Unauthorized","message":"Injected: the access token has expired."}}',
    ),
}


class FaultProxy:
    """TLS in (the server's certificate), TLS out (trusting the local CA); one request per connection.
    Faults only hit InvokeCommand; token and discovery requests pass through."""

    def __init__(self, upstream_port: int, ca: Path, data_dir: Path, plan: FaultPlan | None = None) -> None:
        self.upstream_port = upstream_port
        self.plan = plan or FaultPlan()
        self.lock = threading.Lock()
        self.server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_ctx.load_cert_chain(data_dir / "tls" / "server.pem", data_dir / "tls" / "server-key.pem")
        self.client_ctx = ssl.create_default_context(cafile=str(ca))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: ssl.SSLSocket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        # one request per connection: ask both sides to close afterwards
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body

    def _handle(self, raw: socket.socket) -> None:
        try:
            conn = self.server_ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            request = self._read_request(conn)
            if request is None:
                return
            fault = None
            if b"/InvokeCommand" in request.split(b"\r\n", 1)[0]:
                with self.lock:
                    self.plan.invokes += 1
                    fault = self.plan.faults.get(self.plan.invokes)
                    if fault:
                        self.plan.counts[fault] = self.plan.counts.get(fault, 0) + 1
            if fault == "reset":
                return
            if fault in _RAW:
                status, headers, body = _RAW[fault]
                head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
                return
            try:
                plain = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=60)
            except OSError:
                return  # upstream down: the client sees a closed connection
            try:
                up = self.client_ctx.wrap_socket(plain, server_hostname="127.0.0.1")
            except (OSError, ssl.SSLError):
                plain.close()
                return
            with up:
                up.sendall(request)
                sent = 0
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        break
                    if fault == "drop" and sent + len(chunk) > 2000:
                        conn.sendall(chunk[: max(0, 2000 - sent)])
                        return  # mid-response
                    conn.sendall(chunk)
                    sent += len(chunk)
            with self.lock:
                self.plan.passed += 1
        except (OSError, ssl.SSLError):
            return
        finally:
            with suppress(OSError):
                conn.close()


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- secret leak guard ----------------------------------------------------------------------------------------


class LeakGuard:
    """Secrets a test knows about, and outputs it captured outside capsys (subprocesses)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.outputs: list[str] = []

    def secret(self, *values: str | bytes) -> None:
        for value in values:
            text = value.decode() if isinstance(value, bytes) else value
            for line in text.splitlines():
                if len(line.strip()) >= 12 and "-----" not in line:
                    self.secrets.add(line.strip())

    def output(self, *texts: str) -> None:
        self.outputs.extend(texts)

    def check(self, *texts: str) -> None:
        for text in (*texts, *self.outputs):
            for secret in self.secrets:
                assert secret not in text, "secret material found in output"


_TOTP_LAST: dict[str, int] = {}


def fresh_totp(secret_b32: str) -> str:
    """A code from a TOTP step not used before (each step is accepted once)."""
    while time_step(time.time(), TotpParams()) <= _TOTP_LAST.get(secret_b32, -1):
        time.sleep(0.5)
    step = time_step(time.time(), TotpParams())
    _TOTP_LAST[secret_b32] = step
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return hotp(key, step)
