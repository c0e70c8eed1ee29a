"""A small real CPO for the eMSP-side tests: an HTTP server on a thread speaking OCPI 2.2.1.

It hands out a token A, answers our credentials POST, serves its locations and tariffs in
pages (Link rel="next", X-Total-Count), records the tokens we push and the commands and
charging profiles we send, and can POST results to our response_url."""

import base64
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.roaming import ocpi_objects as ocpi


def envelope(data=None, status_code=1000, message=""):
    return {"data": data, "status_code": status_code, "status_message": message,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


class TestCpo:
    __test__ = False
    def __init__(self, *, locations=None, tariffs=None, page_size=2, roles=("CPO",)):
        self.received: list[dict] = []
        self.token_a = "a" + secrets.token_urlsafe(12)
        self.valid_tokens = {self.token_a}
        self.our_token: str | None = None  # what the CPO calls us (the eMSP) with
        self.locations = locations if locations is not None else [ocpi.location("LOC1")]
        self.tariffs = tariffs if tariffs is not None else [ocpi.tariff("T1")]
        self.page_size = page_size
        self.roles = roles
        self.command_answer = "ACCEPTED"
        self.down = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ocpi"

    @property
    def versions_url(self) -> str:
        return f"{self.base}/versions"

    def requests_to(self, pattern: str, method: str | None = None) -> list[dict]:
        return [r for r in self.received if re.search(pattern, r["path"]) and (method is None or r["method"] == method)]

    def post_result(self, response_url: str, result: dict) -> httpx.Response:
        header = "Token " + base64.b64encode(self.our_token.encode()).decode()
        return httpx.post(response_url, json=result, headers={"Authorization": header}, timeout=10)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        cpo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _page(self, items: list, path: str):
                query = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if "=" in p)
                offset = int(query.get("offset", 0))
                headers = {"X-Total-Count": str(len(items)), "X-Limit": str(cpo.page_size)}
                if offset + cpo.page_size < len(items):
                    headers["Link"] = f'<{cpo.base}{path}?offset={offset + cpo.page_size}>; rel="next"'
                return self._reply(200, envelope(items[offset: offset + cpo.page_size]), headers)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization", "")
                token = base64.b64decode(auth[6:]).decode() if auth.startswith("Token ") else None
                cpo.received.append({"method": self.command, "path": self.path, "body": body,
                                     "headers": dict(self.headers)})
                if cpo.down:
                    return self._reply(503, envelope(None, 3000, "down"))
                if token not in cpo.valid_tokens:
                    return self._reply(401, envelope(None, 2000, "unknown token"))
                path = self.path.split("?")[0].removeprefix("/ocpi")
                if path == "/versions":
                    return self._reply(200, envelope([{"version": "2.2.1", "url": f"{cpo.base}/2.2.1"}]))
                if path == "/2.2.1":
                    endpoints = [("credentials", "SENDER"), ("credentials", "RECEIVER"), ("locations", "SENDER"),
                                 ("tariffs", "SENDER"), ("sessions", "SENDER"), ("cdrs", "SENDER"),
                                 ("tokens", "RECEIVER"), ("commands", "RECEIVER"), ("chargingprofiles", "RECEIVER")]
                    return self._reply(200, envelope({"version": "2.2.1", "endpoints": [
                        {"identifier": i, "role": r, "url": f"{cpo.base}/2.2.1/{i}"} for i, r in endpoints]}))
                if path == "/2.2.1/credentials" and self.command == "POST":
                    cpo.our_token = body["token"]
                    cpo.valid_tokens.discard(cpo.token_a)
                    token_c = secrets.token_urlsafe(12)
                    cpo.valid_tokens.add(token_c)
                    return self._reply(200, envelope({"token": token_c, "url": cpo.versions_url, "roles": [
                        {"role": role, "country_code": ocpi.CPO_CC, "party_id": ocpi.CPO_PARTY,
                         "business_details": {"name": "Test CPO"}} for role in cpo.roles]}))
                if path == "/2.2.1/locations" and self.command == "GET":
                    return self._page(cpo.locations, "/2.2.1/locations")
                if path == "/2.2.1/tariffs" and self.command == "GET":
                    return self._page(cpo.tariffs, "/2.2.1/tariffs")
                if path.startswith("/2.2.1/commands/"):
                    return self._reply(200, envelope({"result": cpo.command_answer, "timeout": 30}))
                if path.startswith("/2.2.1/chargingprofiles/"):
                    return self._reply(200, envelope({"result": "ACCEPTED", "timeout": 30}))
                return self._reply(200, envelope())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
