"""The OCPI response envelope, its status codes and the errors views raise to produce them."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003


def ocpi_datetime(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as OCPI wants it."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return float(o)
        if isinstance(o, datetime):
            return ocpi_datetime(o)
        return super().default(o)


def dumps(data) -> str:
    return json.dumps(data, cls=_Encoder)


class OcpiError(Exception):
    """Raised by a view: becomes an envelope with ``status_code`` and HTTP ``http_status``."""

    def __init__(self, message: str, *, status_code: int = CLIENT_ERROR, http_status: int = 400):
        super().__init__(message)
        self.status_code, self.http_status = status_code, http_status


def envelope(data=None, *, status_code: int = SUCCESS, message: str = "", http_status: int = 200,
             headers: dict | None = None) -> HttpResponse:
    body = {"data": data, "status_code": status_code, "timestamp": ocpi_datetime(datetime.now(UTC))}
    if message:
        body["status_message"] = message
    response = HttpResponse(dumps(body), status=http_status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_envelope(error: OcpiError) -> HttpResponse:
    return envelope(None, status_code=error.status_code, message=str(error), http_status=error.http_status)
