"""The periodic event stream commands (OCPP 2.1 only), registered into the command catalog."""

from rest_framework import serializers

from stations.commands.catalog import V21, CommandError, CommandSpec, register
from stations.models import ChargingStation, CommandOutcome
from stations.streams import services


def _require_21(action: str, version: str) -> None:
    if version != V21:
        raise CommandError(f"{action} is OCPP 2.1; this station speaks {version}")


class GetPeriodicEventStreamParams(serializers.Serializer):
    pass


def get_periodic_event_stream(p: dict, version: str) -> tuple[str, dict]:
    _require_21("GetPeriodicEventStream", version)
    return "GetPeriodicEventStream", {}


def answered_get(*, params: dict, station: ChargingStation, outcome: str, response: dict | None, log) -> None:
    """The station's answer lists its open streams: ChargeNet's records follow it."""
    if outcome == CommandOutcome.ACCEPTED or (response is not None and "constantStreamData" in response):
        services.reported_streams(station_pk=station.pk, streams=(response or {}).get("constantStreamData") or [])


class AdjustPeriodicEventStreamParams(serializers.Serializer):
    stream_id = serializers.IntegerField(min_value=0)
    interval_s = serializers.IntegerField(min_value=0, required=False, help_text="send every this many seconds")
    values = serializers.IntegerField(min_value=0, required=False, help_text="send this many items together")

    def validate(self, attrs):
        refusal = services.check_params(interval_s=attrs.get("interval_s"), values=attrs.get("values"))
        if refusal is not None:
            raise serializers.ValidationError(refusal.info)
        return attrs


def adjust_periodic_event_stream(p: dict, version: str) -> tuple[str, dict]:
    _require_21("AdjustPeriodicEventStream", version)
    params = {}
    if p.get("interval_s") is not None:
        params["interval"] = p["interval_s"]
    if p.get("values") is not None:
        params["values"] = p["values"]
    return "AdjustPeriodicEventStream", {"id": p["stream_id"], "params": params}


def answered_adjust(*, params: dict, station: ChargingStation, outcome: str, response: dict | None, log) -> None:
    if outcome == CommandOutcome.ACCEPTED:
        services.adjust_stream(station_pk=station.pk, stream_id=params["stream_id"],
                               interval_s=params.get("interval_s"), values=params.get("values"))


def register_commands() -> None:
    register(CommandSpec(
        "get_periodic_event_stream", GetPeriodicEventStreamParams, get_periodic_event_stream,
        "2.1 GetPeriodicEventStream: the station lists its open streams (ChargeNet's records follow)",
        on_answer=answered_get))
    register(CommandSpec(
        "adjust_periodic_event_stream", AdjustPeriodicEventStreamParams, adjust_periodic_event_stream,
        "2.1 AdjustPeriodicEventStream: a stream's interval and values", on_answer=answered_adjust))
