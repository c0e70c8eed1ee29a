"""OCPI pagination: offset/limit, date_from (inclusive) / date_to (exclusive) on last_updated,
and the Link (rel="next"), X-Total-Count and X-Limit headers."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from roaming.envelope import INVALID_PARAMETERS, OcpiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass
class Page:
    items: list
    headers: dict[str, str]


def _int(request, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OcpiError(f"{name} must be a whole number", status_code=INVALID_PARAMETERS)
    if value < 0:
        raise OcpiError(f"{name} must not be negative", status_code=INVALID_PARAMETERS)
    return value


def _date(request, name: str) -> datetime | None:
    raw = request.GET.get(name)
    if not raw:
        return None
    moment = parse_datetime(raw)
    if moment is None:
        raise OcpiError(f"{name} must be an RFC 3339 date-time", status_code=INVALID_PARAMETERS)
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def paginate(request, queryset: QuerySet, *, date_field: str, to_ocpi) -> Page:
    """One page of ``queryset`` filtered by date_from/date_to on ``date_field``, mapped with ``to_ocpi``."""
    date_from, date_to = _date(request, "date_from"), _date(request, "date_to")
    if date_from is not None:
        queryset = queryset.filter(**{f"{date_field}__gte": date_from})
    if date_to is not None:
        queryset = queryset.filter(**{f"{date_field}__lt": date_to})
    offset = _int(request, "offset", 0)
    limit = min(_int(request, "limit", DEFAULT_LIMIT), MAX_LIMIT)
    total = queryset.count()
    rows = list(queryset.order_by(date_field, "pk")[offset: offset + limit])
    headers = {"X-Total-Count": str(total), "X-Limit": str(limit)}
    if offset + limit < total and limit > 0:
        params = {k: v for k, v in request.GET.items() if k not in ("offset", "limit")}
        params.update(offset=offset + limit, limit=limit)
        headers["Link"] = f'<{request.build_absolute_uri(request.path)}?{urlencode(params)}>; rel="next"'
    return Page(items=[to_ocpi(row) for row in rows], headers=headers)
