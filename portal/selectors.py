"""Reads for the portal and the dashboard, always starting from what the user may see
(``stations.selectors`` / ``chargenet.roles``)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from stations.models import (
    ChargingSession,
    ChargingStation,
    ConnectorStatus,
    Measurand,
    MeterSample,
    Phase,
    SessionStatus,
)
from stations.selectors import sessions_visible_to, stations_visible_to

FAULTED, OFFLINE, ONLINE = 0, 1, 2


def driver_sessions(*, driver, date_from: date | None = None, date_to: date | None = None, where: str = "",
                    min_energy_kwh=None, status: str = "") -> QuerySet[ChargingSession]:
    """A driver's sessions, newest first, narrowed by the list's filters. The dates are days
    in the driver's own zone (what the portal shows), turned into UTC bounds here so that
    the filter does not depend on whichever zone happens to be active."""
    sessions = ChargingSession.objects.filter(driver=driver).select_related("station__site", "evse", "cdr")
    zone = ZoneInfo(driver.time_zone or "UTC")
    if date_from:
        sessions = sessions.filter(started_at__gte=datetime.combine(date_from, time.min, tzinfo=zone))
    if date_to:
        sessions = sessions.filter(started_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone))
    if where:
        sessions = sessions.filter(
            Q(station__station_id__icontains=where) | Q(station__site__name__icontains=where)
            | Q(station__site__city__icontains=where)
        )
    if min_energy_kwh is not None:
        sessions = sessions.filter(energy_wh__gte=int(min_energy_kwh * 1000))
    if status:
        sessions = sessions.filter(status=status)
    return sessions.order_by("-started_at", "-id")


def session_for(user, pk: int) -> ChargingSession | None:
    """The session, if this user may see it (else None: the caller answers 404)."""
    return sessions_visible_to(user).select_related("station__site").filter(pk=pk).first()


@dataclass(frozen=True)
class CurvePoint:
    at: datetime
    energy_wh: float | None
    power_w: float | None


def session_curve(session: ChargingSession) -> list[CurvePoint]:
    """Energy delivered since the start and power over time, from the session's meter values
    (phase-less readings; power derived from energy where the station sent none)."""
    rows = MeterSample.objects.filter(
        session=session, phase=Phase.NONE,
        measurand__in=[Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, Measurand.POWER_ACTIVE_IMPORT],
    ).order_by("timestamp").values_list("timestamp", "measurand", "value")
    by_time: dict[datetime, dict[int, float]] = {}
    for at, measurand, value in rows:
        by_time.setdefault(at, {})[measurand] = value
    start = session.meter_start_wh
    points, previous = [], None
    for at in sorted(by_time):
        values = by_time[at]
        register = values.get(Measurand.ENERGY_ACTIVE_IMPORT_REGISTER)
        if start is None and register is not None:
            start = register
        energy = register - start if register is not None else None
        power = values.get(Measurand.POWER_ACTIVE_IMPORT)
        if power is None and energy is not None and previous is not None and previous.energy_wh is not None:
            seconds = (at - previous.at).total_seconds()
            power = (energy - previous.energy_wh) * 3600 / seconds if seconds > 0 else None
        point = CurvePoint(at=at, energy_wh=energy, power_w=power)
        points.append(point)
        previous = point
    return points


def latest_power_w(session: ChargingSession) -> float | None:
    value = MeterSample.objects.filter(
        session=session, phase=Phase.NONE, measurand=Measurand.POWER_ACTIVE_IMPORT
    ).order_by("-timestamp").values_list("value", flat=True).first()
    return value


def station_health(station: ChargingStation) -> int:
    statuses = [c.status for evse in station.evses.all() for c in evse.connectors.all()]
    if station.status == ConnectorStatus.FAULTED or ConnectorStatus.FAULTED in statuses:
        return FAULTED
    return ONLINE if station.is_online else OFFLINE


def dashboard_stations(user) -> list[ChargingStation]:
    """The user's stations, faulted first, then offline, then the rest, by id."""
    stations = list(stations_visible_to(user).order_by("station_id"))
    return sorted(stations, key=lambda s: (station_health(s), s.station_id))


def charging_now(station_pks: list[int]) -> dict[int, list[dict]]:
    """Per station, its sessions in progress with what the car reported: state of charge,
    energy in and out, the 2.1 operation mode (the dashboard's "Charging now" column). One query."""
    rows: dict[int, list[dict]] = {pk: [] for pk in station_pks}
    sessions = (
        ChargingSession.objects.filter(station_id__in=station_pks, status=SessionStatus.ACTIVE)
        .select_related("evse").order_by("station_id", "evse__evse_id", "started_at")
    )
    for session in sessions:
        rows[session.station_id].append({
            "session": session.pk, "evse": session.evse.evse_id if session.evse else None,
            "energy_wh": session.energy_wh, "energy_exported_wh": session.energy_exported_wh,
            "soc_percent": session.soc_percent, "operation_mode": session.operation_mode,
        })
    return rows


def dashboard_state(user) -> dict:
    """The dashboard's live part as JSON (the WebSocket's fallback polls it)."""
    stations = dashboard_stations(user)
    charging = charging_now([s.pk for s in stations])
    return {
        "stations": [
            {
                "station": s.station_id, "online": s.is_online, "health": station_health(s),
                "charging": charging[s.pk],
                "connectors": [
                    {"evse": e.evse_id, "connector": c.connector_id, "status": c.status, "error_code": c.error_code}
                    for e in s.evses.all() for c in e.connectors.all()
                ],
            }
            for s in stations
        ]
    }


def energy_per_day(user, *, days: int = 14, today: date | None = None) -> list[tuple[date, float]]:
    """kWh of the user's sessions by the (UTC) day they started, oldest first, zero-filled."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    totals = {first + timedelta(days=n): 0.0 for n in range(days)}
    rows = sessions_visible_to(user).filter(started_at__date__gte=first).values_list("started_at", "energy_wh")
    for started_at, energy_wh in rows:
        day = started_at.date()
        if day in totals:
            totals[day] += energy_wh / 1000
    return list(totals.items())


def utilisation_per_day(user, *, days: int = 14, now: datetime | None = None) -> list[tuple[date, float]]:
    """Share (0..1) of connector time spent in a session, per UTC day, oldest first."""
    now = now or timezone.now()
    today = now.date()
    first = today - timedelta(days=days - 1)
    connectors = sum(len(e.connectors.all()) or 1 for s in stations_visible_to(user) for e in s.evses.all())
    window_start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    busy = {first + timedelta(days=n): 0.0 for n in range(days)}
    sessions = sessions_visible_to(user).filter(
        Q(stopped_at__isnull=True) | Q(stopped_at__gte=window_start), started_at__isnull=False
    ).values_list("started_at", "stopped_at")
    for started_at, stopped_at in sessions:
        start, end = max(started_at, window_start), min(stopped_at or now, now)
        while start < end:
            day_end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=start.tzinfo)
            piece_end = min(end, day_end)
            if start.date() in busy:
                busy[start.date()] += (piece_end - start).total_seconds()
            start = piece_end
    if connectors == 0:
        return [(day, 0.0) for day in busy]
    return [(day, min(1.0, seconds / (connectors * 86400))) for day, seconds in busy.items()]


def price_at_station(*, station_id: str, evse_id: int | None, driver, language: str) -> dict | None:
    """What the driver would pay at a station (public information: any accepted station), as the
    start page shows it; None when there is no such station or no tariff applies."""
    from billing.prices import quote
    from stations.models import Evse

    station = (ChargingStation.objects.select_related("site")
               .filter(station_id=(station_id or "").strip(), registration_status="Accepted").first())
    if station is None:
        return None
    evse = Evse.objects.filter(station=station, evse_id=evse_id).first() if evse_id else None
    found = quote(station=station, evse=evse, driver_pk=driver.pk, language=language)
    if found is None:
        return None
    return {"station": station.station_id, "tariff": found.tariff.tariff_id, "text": found.text,
            "currency": found.currency}
