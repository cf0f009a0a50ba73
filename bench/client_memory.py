"""Client memory and speed: enumerate 1,000,000 objects through ``Connection.invoke`` and print the
client's peak RSS after 10k and after 1M objects (target: growth <= 50 MB), and objects/s against a
baseline measured in the same run (raw HTTP page fetches + JSON decoding, no SDK).

The server is an honest *stand-in* (seeding a real mailwarden server with 1M mailboxes takes too long for a
benchmark run): a threaded HTTP server in a subprocess answering ``POST /adminapi/beta/{tenant}/InvokeCommand``
with InvokeCommand-shaped pages (1000 mailbox-like objects of ~1 KB, ``@odata.nextLink`` with a cursor).

    python bench/client_memory.py [--quick]      # --quick: 100k objects
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import time
import uuid

import httpx

import mailwarden
from mailwarden.client import StaticTokenAuth

SERVER = r"""
import json, sys, uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs
TOTAL, PAGE = int(sys.argv[2]), 1000
def obj(i):
    g = str(uuid.UUID(int=i + 1))
    a = f"user{i:07d}"
    return {"Identity": a, "Name": f"User {i}", "Alias": a, "DisplayName": f"User {i}",
            "PrimarySmtpAddress": f"{a}@contoso.onmicrosoft.com", "RecipientTypeDetails": "UserMailbox",
            "EmailAddresses": [f"SMTP:{a}@contoso.onmicrosoft.com", f"smtp:{a}@contoso.com"],
            "Guid": g, "ExchangeGuid": g, "Department": "Sales", "City": "Seattle", "Office": "Seattle 3",
            "WhenCreated": "2025-01-01T00:00:00Z", "WhenChanged": "2025-01-01T00:00:00Z",
            "ForwardingSmtpAddress": None, "HiddenFromAddressListsEnabled": False, "LitigationHoldEnabled": False}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        start = int(parse_qs(urlsplit(self.path).query).get("$skiptoken", ["0"])[0])
        end = min(TOTAL, start + PAGE)
        body = {"value": [obj(i) for i in range(start, end)]}
        if end < TOTAL:
            body["@odata.nextLink"] = f"http://127.0.0.1:{self.server.server_port}{urlsplit(self.path).path}?$skiptoken={end}"
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def baseline(url: str) -> tuple[int, float]:
    """Raw page fetches + JSON decoding: what any client must at least spend."""
    started = time.perf_counter()
    count = 0
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    with httpx.Client(timeout=60) as client:
        link: str | None = url
        while link:
            page = client.post(link, json=body).json()
            count += len(page["value"])
            link = page.get("@odata.nextLink")
    return count, time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k objects instead of 1M")
    args = ap.parse_args()
    total = 100_000 if args.quick else 1_000_000
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(total)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        tenant = "contoso.onmicrosoft.com"
        b_count, b_secs = baseline(f"{base}/adminapi/beta/{tenant}/InvokeCommand")
        rss_start = rss_mb()
        rss_10k = 0.0
        count = 0
        started = time.perf_counter()
        with mailwarden.connect(tenant, url=base, auth=StaticTokenAuth(f"bench-{uuid.uuid4()}")) as conn:
            for _ in conn.invoke("Get-Mailbox", ResultSize="Unlimited"):
                count += 1
                if count == 10_000:
                    rss_10k = rss_mb()
        secs = time.perf_counter() - started
        rss_end = rss_mb()
    finally:
        server.terminate()
        server.wait(timeout=10)
    growth = rss_end - rss_10k
    sdk_rate, base_rate = count / secs, b_count / b_secs
    print("server: stand-in page server over real HTTP (subprocess), 1000 objects per page")
    print(f"objects                          {count}")
    print(f"peak RSS before enumerating MB   {rss_start:.1f}")
    print(f"peak RSS at 10k objects MB       {rss_10k:.1f}")
    print(f"peak RSS at {count // 1000}k objects MB     {rss_end:.1f}")
    print(f"RSS growth 10k -> end MB         {growth:.1f}  (target <= 50)")
    print(f"SDK objects/s                    {sdk_rate:,.0f}")
    print(f"baseline objects/s (raw HTTP)    {base_rate:,.0f}")
    print(f"ratio SDK/baseline               {sdk_rate / base_rate:.2f}")
    print("=== summary ===")
    print(json.dumps({"objects": count, "rss_growth_mb": round(growth, 1), "sdk_per_s": round(sdk_rate),
                      "baseline_per_s": round(base_rate)}))  # fmt: skip
    print(f"overall: {'PASS' if growth <= 50 and count == total else 'MISS'}")
    return 0 if count == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
