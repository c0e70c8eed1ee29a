"""Periodic event streams: opening (within limits), closing, and storing their data.

Limits: a station keeps at most ``MAX_OPEN_STREAMS`` streams open, none sending more often
than every ``MIN_INTERVAL_S`` seconds (a stream that names no interval sends as soon as it
has ``values`` items; it needs ``values`` of at least ``MIN_VALUES_WITHOUT_INTERVAL``).
Stream data is written in batches with the meter values' batcher rules (``write_batch``).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from stations.streams.models import PeriodicEventSample, PeriodicEventStream

MAX_OPEN_STREAMS = 10
MIN_INTERVAL_S = 5
MIN_VALUES_WITHOUT_INTERVAL = 10


@dataclass(frozen=True)
class Refusal:
    """Why a stream is refused: an OCPP 2.1 reason code and a sentence for the station."""

    reason_code: str
    info: str


def check_params(*, interval_s: int | None, values: int | None) -> Refusal | None:
    if interval_s:
        if interval_s < MIN_INTERVAL_S:
            return Refusal("ValueTooLow", f"interval must be at least {MIN_INTERVAL_S} s")
        return None
    if (values or 0) < MIN_VALUES_WITHOUT_INTERVAL:
        return Refusal("ValueTooLow", f"without an interval of at least {MIN_INTERVAL_S} s, "
                                      f"values must be at least {MIN_VALUES_WITHOUT_INTERVAL}")
    return None


@transaction.atomic
def open_stream(
    *, station_pk: int, stream_id: int, variable_monitoring_id: int, interval_s: int | None, values: int | None,
    now: datetime | None = None,
) -> Refusal | None:
    """Open (or, for a stream id already open, re-open with new parameters) a station's
    stream; None when accepted."""
    refusal = check_params(interval_s=interval_s, values=values)
    if refusal is not None:
        return refusal
    now = now or timezone.now()
    open_streams = PeriodicEventStream.objects.select_for_update().filter(station_id=station_pk, closed_at=None)
    current = {s.stream_id: s for s in open_streams}
    if stream_id in current:
        stream = current[stream_id]
        stream.variable_monitoring_id, stream.interval_s, stream.values = variable_monitoring_id, interval_s, values
        stream.save(update_fields=["variable_monitoring_id", "interval_s", "values"])
        return None
    if len(current) >= MAX_OPEN_STREAMS:
        return Refusal("TooManyElements", f"at most {MAX_OPEN_STREAMS} open streams per station")
    try:
        with transaction.atomic():
            PeriodicEventStream.objects.create(
                station_id=station_pk, stream_id=stream_id, variable_monitoring_id=variable_monitoring_id,
                interval_s=interval_s, values=values, opened_at=now,
            )
    except IntegrityError:  # opened by a retry on another connection meanwhile
        return None
    return None


def close_stream(*, station_pk: int, stream_id: int, now: datetime | None = None) -> bool:
    """Close the station's open stream with that id; False if there is none."""
    return bool(PeriodicEventStream.objects.filter(station_id=station_pk, stream_id=stream_id, closed_at=None)
                .update(closed_at=now or timezone.now()))


def adjust_stream(*, station_pk: int, stream_id: int, interval_s: int | None, values: int | None) -> None:
    """The station accepted new parameters for an open stream (AdjustPeriodicEventStream)."""
    PeriodicEventStream.objects.filter(station_id=station_pk, stream_id=stream_id, closed_at=None).update(
        interval_s=interval_s, values=values)


@transaction.atomic
def reported_streams(*, station_pk: int, streams: list[dict], now: datetime | None = None) -> None:
    """The station's open streams as it reports them (GetPeriodicEventStream, camelCase
    ConstantStreamData): those it no longer has are closed, the others opened or updated."""
    now = now or timezone.now()
    reported = {s["id"]: s for s in streams}
    PeriodicEventStream.objects.filter(station_id=station_pk, closed_at=None).exclude(
        stream_id__in=list(reported)).update(closed_at=now)
    for stream_id, data in reported.items():
        params = data.get("params") or {}
        PeriodicEventStream.objects.update_or_create(
            station_id=station_pk, stream_id=stream_id, closed_at=None,
            defaults={"variable_monitoring_id": data["variableMonitoringId"], "interval_s": params.get("interval"),
                      "values": params.get("values")},
            create_defaults={"variable_monitoring_id": data["variableMonitoringId"],
                             "interval_s": params.get("interval"), "values": params.get("values"), "opened_at": now},
        )


# --- data ---------------------------------------------------------------------------------


@dataclass
class StreamWrite:
    """One NotifyPeriodicEventStream: values at ``basetime`` + t seconds."""

    station_pk: int
    stream_id: int
    basetime: datetime
    data: list[tuple[float, str]] = field(default_factory=list)


@transaction.atomic
def write_batch(writes: list[StreamWrite]) -> list[bool]:
    """Store the writes in one transaction; per write, whether its stream is open (data of
    a stream that is not open is dropped)."""
    streams = {
        (s.station_id, s.stream_id): s
        for s in PeriodicEventStream.objects.filter(
            station_id__in={w.station_pk for w in writes}, stream_id__in={w.stream_id for w in writes}, closed_at=None
        )
    }
    samples, latest, counts, applied = [], {}, {}, []
    for write in writes:
        stream = streams.get((write.station_pk, write.stream_id))
        applied.append(stream is not None)
        if stream is None or not write.data:
            continue
        for offset_s, value in write.data:
            at = write.basetime + timedelta(seconds=offset_s)
            samples.append(PeriodicEventSample(stream=stream, timestamp=at, value=value))
            if stream.pk not in latest or at >= latest[stream.pk][0]:
                latest[stream.pk] = (at, value)
        counts[stream.pk] = counts.get(stream.pk, 0) + len(write.data)
    PeriodicEventSample.objects.bulk_create(samples, ignore_conflicts=True)
    for pk, (at, value) in latest.items():
        PeriodicEventStream.objects.filter(pk=pk).update(samples_received=F("samples_received") + counts[pk])
        PeriodicEventStream.objects.filter(pk=pk).exclude(last_value_at__gt=at).update(
            last_value=value, last_value_at=at)
    return applied
