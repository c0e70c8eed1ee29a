"""A station's DER controls (OCPP 2.1) as ChargeNet knows them, for the station page: the
controls it last reported (ReportDERControl, after a get_der_control), what was sent to it
(set/get/clear_der_control in the command log) and what it said since (NotifyDERAlarm,
NotifyDERStartStop)."""

import json

from stations.models import ChargingStation, CommandLog, StationEvent
from stations.smart_charging.v2x import DER_CONTROL_FIELDS

DER_COMMANDS = ("set_der_control", "get_der_control", "clear_der_control")
_ITEM_KEYS = {"id", "isDefault", "isSuperseded", "customData"}


def _what(payload: dict) -> str:
    """Which 2.1 message a DER station event came from (its payload tells)."""
    if "requestId" in payload:
        return "ReportDERControl"
    if "started" in payload:
        return "NotifyDERStartStop"
    if "controlType" in payload:
        return "NotifyDERAlarm"
    return "DER"


def _compact(value) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True)


def reported_controls(payload: dict) -> list[dict]:
    """The controls of one ReportDERControl, one row each (a report may come in parts: ``tbc``)."""
    rows = []
    for control_type in sorted(DER_CONTROL_FIELDS):
        for item in payload.get(control_type) or []:
            rows.append({
                "type": control_type, "id": item.get("id", ""), "is_default": item.get("isDefault"),
                "is_superseded": item.get("isSuperseded"),
                "details": _compact({k: v for k, v in item.items() if k not in _ITEM_KEYS}),
            })
    return rows


def station_der_controls(station: ChargingStation, *, limit: int = 20) -> dict:
    """Three small queries; ``shown`` is False for a station that never had DER traffic and
    does not speak 2.1 (the page then leaves the section out)."""
    commands = list(CommandLog.objects.filter(station=station, command__in=DER_COMMANDS)
                    .select_related("requested_by")[:limit])
    events = list(StationEvent.objects.filter(station=station, kind=StationEvent.Kind.DER)[:limit])
    report = next((e for e in events if _what(e.payload) == "ReportDERControl"), None)
    if report is None:
        report = (StationEvent.objects.filter(station=station, kind=StationEvent.Kind.DER,
                                              payload__has_key="requestId").first()
                  if len(events) == limit else None)
    return {
        "shown": bool(commands or events) or station.ocpp_version == "2.1",
        "reported_at": report.timestamp if report else None,
        "reported": reported_controls(report.payload) if report else [],
        "commands": [
            {
                "requested_at": c.requested_at, "command": c.command, "control_id": c.params.get("control_id", ""),
                "control_type": c.params.get("control_type", ""), "is_default": c.params.get("is_default"),
                "control": _compact(c.params["control"]) if c.params.get("control") else "",
                "outcome": c.outcome, "status": c.status, "by": c.requested_by or c.source,
            }
            for c in commands
        ],
        "events": [{"timestamp": e.timestamp, "what": _what(e.payload), "summary": e.summary} for e in events],
    }
