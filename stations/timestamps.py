"""OCPP timestamps as aware UTC datetimes, for every place that reads a station's payload."""

from datetime import UTC, datetime

from ocpp.exceptions import FormatViolationError


def parse_timestamp(value: str) -> datetime:
    """An aware UTC datetime from an OCPP timestamp; naive ones are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise FormatViolationError(details={"cause": f"not an RFC 3339 timestamp: {value!r}"}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
