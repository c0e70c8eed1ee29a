"""Display messages (OCPP 2.0.1 block O): what is on each station's screen, as far as we know.

Set messages are recorded once the station accepts them; GetDisplayMessages answers arrive as
NotifyDisplayMessages and replace what was known of those message ids; ClearDisplayMessage
removes one. ``put_on_site`` puts one message on all 2.0.1 stations of a site at once.
"""

from datetime import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from stations.models import ChargingStation, DisplayMessage


def _when(value) -> datetime | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, datetime) else parse_datetime(str(value).replace("Z", "+00:00"))


@transaction.atomic
def record_reported_messages(*, station_pk: int, message_info: list[dict]) -> int:
    """NotifyDisplayMessages: the station's own account of its messages (camelCase, as sent)."""
    for info in message_info:
        content = info.get("message") or {}
        DisplayMessage.objects.update_or_create(
            station_id=station_pk, message_id=info["id"],
            defaults={
                "priority": info.get("priority", ""), "state": info.get("state", ""),
                "content": str(content.get("content", ""))[:512], "language": content.get("language", ""),
                "format": content.get("format", "UTF8"), "start_at": _when(info.get("startDateTime")),
                "end_at": _when(info.get("endDateTime")), "transaction_id": info.get("transactionId", ""),
                "source": DisplayMessage.Source.REPORTED,
            },
        )
    return len(message_info)


def next_message_id(station: ChargingStation) -> int:
    last = DisplayMessage.objects.filter(station=station).order_by("-message_id").values_list(
        "message_id", flat=True).first()
    return (last or 0) + 1


def record_set_message(*, station: ChargingStation, params: dict) -> None:
    """A SetDisplayMessage the station accepted (``params`` as the command logged them)."""
    DisplayMessage.objects.update_or_create(
        station=station, message_id=params["id"],
        defaults={
            "priority": params["priority"], "state": params.get("state", ""), "content": params["message"],
            "language": params.get("language", ""), "format": params["format"],
            "start_at": _when(params.get("start_at")), "end_at": _when(params.get("end_at")),
            "transaction_id": params.get("transaction_id", ""), "source": DisplayMessage.Source.SET,
        },
    )


def forget_message(*, station: ChargingStation, message_id: int) -> None:
    DisplayMessage.objects.filter(station=station, message_id=message_id).delete()
