"""Requests to a partner's OCPI endpoints (httpx), each logged in the partner's request log.

A call succeeds when the HTTP status is 2xx and the envelope's status_code is 1xxx;
anything else raises ``PartnerError`` with what went wrong."""

import json
import time

import httpx
from django.conf import settings

from roaming.auth import request_headers
from roaming.envelope import dumps
from roaming.models import Partner, RequestLog

_LOG_BODY_CHARS = 4000


class PartnerError(Exception):
    def __init__(self, message: str, *, http_status: int | None = None, ocpi_status: int | None = None):
        super().__init__(message)
        self.http_status, self.ocpi_status = http_status, ocpi_status


MAX_PAGES = 1000


def call(partner: Partner, method: str, url: str, *, payload=None, timeout: float | None = None,
         correlation_id: str | None = None, to_party: tuple[str, str] | None = None) -> dict:
    """The envelope the partner answered with (its ``data`` under "data"). ``to_party``:
    (country code, party id) of the party behind a hub the request is for."""
    return _request(partner, method, url, payload=payload, timeout=timeout, correlation_id=correlation_id,
                    to_party=to_party)[0]


def pages(partner: Partner, url: str, *, to_party: tuple[str, str] | None = None):
    """Every object of a paginated list (GET), following ``Link: <...>; rel="next"``."""
    for _ in range(MAX_PAGES):
        envelope, headers = _request(partner, "GET", url, to_party=to_party)
        data = envelope.get("data")
        if not isinstance(data, list):
            raise PartnerError("a list was expected in data", ocpi_status=envelope.get("status_code"))
        yield from data
        url = _next_link(headers.get("link", ""))
        if not url:
            return
    raise PartnerError(f"more than {MAX_PAGES} pages: stopped")


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None


def _request(partner: Partner, method: str, url: str, *, payload=None, timeout: float | None = None,
             correlation_id: str | None = None, to_party: tuple[str, str] | None = None) -> tuple[dict, httpx.Headers]:
    body = dumps(payload) if payload is not None else None
    headers = request_headers(partner, correlation_id=correlation_id, to_party=to_party)
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    log = RequestLog(partner=partner, direction=RequestLog.Direction.OUT, method=method, url=url[:500],
                     request_body=(body or "")[:_LOG_BODY_CHARS])
    try:
        try:
            response = httpx.request(method, url, content=body, headers=headers,
                                     timeout=timeout or settings.OCPI_REQUEST_TIMEOUT_S)
        except httpx.HTTPError as error:
            raise PartnerError(f"{type(error).__name__}: {error}") from None
        log.http_status = response.status_code
        log.response_body = response.text[:_LOG_BODY_CHARS]
        try:
            envelope = response.json()
        except (json.JSONDecodeError, ValueError):
            raise PartnerError(f"HTTP {response.status_code}, not an OCPI envelope",
                               http_status=response.status_code) from None
        status = envelope.get("status_code") if isinstance(envelope, dict) else None
        log.ocpi_status = status if isinstance(status, int) else None
        if not response.is_success or not isinstance(status, int) or not 1000 <= status < 2000:
            message = envelope.get("status_message", "") if isinstance(envelope, dict) else ""
            raise PartnerError(f"HTTP {response.status_code}, OCPI {status}: {message}".strip(),
                               http_status=response.status_code, ocpi_status=log.ocpi_status)
        return envelope, response.headers
    except PartnerError as error:
        log.error = str(error)[:500]
        raise
    finally:
        log.duration_ms = int((time.monotonic() - started) * 1000)
        log.save()
