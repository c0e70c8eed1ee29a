"""A small real eMSP for the roaming tests: an HTTP server on a thread speaking OCPI 2.2.1.

It records every request it receives, issues and checks its own tokens, answers real-time
authorizations from a table, and can register with a CPO as the registering party."""

import base64
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

COUNTRY, PARTY = "NL", "EMS"


def envelope(data=None, status_code=1000, message=""):
    return {"data": data, "status_code": status_code, "status_message": message,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def token_header(token: str) -> str:
    return "Token " + base64.b64encode(token.encode()).decode()


class TestEmsp:
    def __init__(self):
        self.received: list[dict] = []
        self.valid_tokens: set[str] = set()
        self.authorizations: dict[str, str] = {}  # uid -> AuthorizationInfo.allowed
        self.cpo_token: str | None = None  # what we (the eMSP) call the CPO with
        self.our_token_at_cpo: str | None = None  # the token the CPO calls us with
        self.callback_checks: list[int] = []  # status codes of our calls back to the CPO during registration
        self.down = False
        self.versions = ["2.2.1"]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ocpi"

    @property
    def versions_url(self) -> str:
        return f"{self.base}/versions"

    def issue_token(self) -> str:
        token = "t" + secrets.token_urlsafe(16)  # never "-...": ocpi_register would read an option
        self.valid_tokens.add(token)
        return token

    def credentials(self, token: str) -> dict:
        return {"token": token, "url": self.versions_url,
                "roles": [{"role": "EMSP", "country_code": COUNTRY, "party_id": PARTY,
                           "business_details": {"name": "Test eMSP"}}]}

    def requests_to(self, pattern: str, method: str | None = None) -> list[dict]:
        return [r for r in self.received if re.search(pattern, r["path"]) and (method is None or r["method"] == method)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- as the registering party, towards the CPO -----------------------------------------

    def register_with(self, cpo_versions_url: str, token_a: str) -> dict:
        versions = httpx.get(cpo_versions_url, headers={"Authorization": token_header(token_a)}).json()["data"]
        details_url = next(v["url"] for v in versions if v["version"] == "2.2.1")
        details = httpx.get(details_url, headers={"Authorization": token_header(token_a)}).json()["data"]
        self.cpo_endpoints = {(e["identifier"], e["role"]): e["url"] for e in details["endpoints"]}
        token_b = self.issue_token()
        response = httpx.post(self.cpo_endpoints[("credentials", "RECEIVER")], json=self.credentials(token_b),
                              headers={"Authorization": token_header(token_a)}, timeout=20)
        body = response.json()
        if response.status_code == 200 and body["status_code"] == 1000:
            self.cpo_token = body["data"]["token"]
        return {"http": response.status_code, **body}

    def call_cpo(self, method: str, url: str, token: str | None = None, **kwargs) -> httpx.Response:
        return httpx.request(method, url, headers={"Authorization": token_header(token or self.cpo_token)},
                             timeout=20, **kwargs)

    # --- the server side ----------------------------------------------------------------------

    def _handler(self):
        emsp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                auth = self.headers.get("Authorization", "")
                token = base64.b64decode(auth[6:]).decode() if auth.startswith("Token ") else None
                emsp.received.append({"method": self.command, "path": self.path, "token": token, "body": body,
                                      "headers": dict(self.headers)})
                if emsp.down:
                    return self._reply(503, envelope(None, 3000, "down for maintenance"))
                if token not in emsp.valid_tokens:
                    return self._reply(401, envelope(None, 2000, "unknown token"))
                path = self.path.split("?")[0].removeprefix("/ocpi")
                if path == "/versions":
                    listed = [{"version": v, "url": f"{emsp.base}/{v}"} for v in emsp.versions]
                    return self._reply(200, envelope(listed))
                if path == "/2.2.1":
                    endpoints = [("credentials", "SENDER"), ("credentials", "RECEIVER"), ("locations", "RECEIVER"),
                                 ("sessions", "RECEIVER"), ("cdrs", "RECEIVER"), ("tokens", "SENDER"),
                                 ("commands", "SENDER")]
                    return self._reply(200, envelope({"version": "2.2.1", "endpoints": [
                        {"identifier": i, "role": r, "url": f"{emsp.base}/2.2.1/{i}"} for i, r in endpoints]}))
                if path == "/2.2.1/credentials" and self.command in ("POST", "PUT"):
                    # The CPO registers with us: check its versions with its token, answer with ours.
                    cpo = httpx.get(body["url"], headers={"Authorization": token_header(body["token"])})
                    emsp.callback_checks.append(cpo.status_code)
                    if cpo.status_code != 200:
                        return self._reply(400, envelope(None, 3001, "cannot read your versions"))
                    emsp.cpo_token = body["token"]
                    emsp.valid_tokens.discard(token)
                    token_c = emsp.issue_token()
                    emsp.our_token_at_cpo = token_c
                    return self._reply(200, envelope(emsp.credentials(token_c)))
                if path == "/2.2.1/credentials" and self.command == "DELETE":
                    emsp.valid_tokens.discard(token)
                    return self._reply(200, envelope())
                match = re.fullmatch(r"/2\.2\.1/tokens/([^/]+)/authorize", path)
                if match and self.command == "POST":
                    allowed = emsp.authorizations.get(match.group(1))
                    if allowed is None:
                        return self._reply(404, envelope(None, 2004, "unknown token"))
                    return self._reply(200, envelope({
                        "allowed": allowed, "authorization_reference": f"AUTH-{match.group(1)}",
                        "token": {"country_code": COUNTRY, "party_id": PARTY, "uid": match.group(1), "type": "RFID",
                                  "contract_id": f"NL-EMS-C{match.group(1)}", "issuer": "Test eMSP", "valid": True,
                                  "whitelist": "ALLOWED", "last_updated": "2025-01-01T00:00:00Z"}}))
                return self._reply(200, envelope())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
