"""Live updates: the network's signals, relayed to the pages watching over Channels groups.

Groups: ``live.network`` (operators' dashboards), ``live.org.<pk>`` (a site owner's
dashboard, one per organisation), ``live.session.<pk>`` (the driver watching that session).
Receivers run on the thread that handled the OCPP message, after its transaction committed:
each does one small query and hands the event to the channel layer; failures are logged by
``announce_on_commit`` and never reach the protocol path.
"""

import logging
import time
from datetime import timedelta

from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from stations import background
from stations.models import ChargingSession, ChargingStation, SessionStatus
from stations.signals import (
    connector_status_changed,
    meter_values_recorded,
    session_completed,
    session_started,
    station_presence_changed,
)

log = logging.getLogger(__name__)

NETWORK_GROUP = "live.network"
EVENT_TYPE = "live.event"
WATCH_LEASE = timedelta(minutes=2)  # renewed every minute by the consumer
WATCHED_REFRESH_S = 2.0  # how stale this process's view of the watched sessions may be

_watched: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
_watched_epoch = 0  # bumped by every change of this process's watches


def watch(*, groups: list[str], channel_name: str) -> None:
    """A live page subscribed to ``groups`` (or is still there: renews the lease)."""
    from portal.models import LiveWatch

    now = timezone.now()
    for group in groups:
        LiveWatch.objects.update_or_create(
            channel_name=channel_name, group=group, defaults={"expires_at": now + WATCH_LEASE}
        )
    LiveWatch.objects.filter(expires_at__lt=now).delete()
    _forget_watched()


def unwatch(*, channel_name: str) -> None:
    from portal.models import LiveWatch

    LiveWatch.objects.filter(channel_name=channel_name).delete()
    _forget_watched()


def _forget_watched() -> None:
    global _watched, _watched_epoch
    _watched_epoch += 1
    _watched = (float("-inf"), frozenset())


def watched_groups() -> frozenset[str]:
    """Groups someone watches live: one query per WATCHED_REFRESH_S per process. A read that
    a new watch in this process overtook (a page subscribed while a database thread was
    reading) is used once, not kept: kept, it would hide that page's updates for seconds."""
    global _watched
    from portal.models import LiveWatch

    now = time.monotonic()
    if now - _watched[0] <= WATCHED_REFRESH_S:
        return _watched[1]
    epoch = _watched_epoch
    groups = frozenset(LiveWatch.objects.filter(expires_at__gt=timezone.now()).values_list("group", flat=True))
    if epoch == _watched_epoch:
        _watched = (now, groups)
    return groups


def organization_group(organization_pk: int) -> str:
    return f"live.org.{organization_pk}"


def session_group(session_pk: int) -> str:
    return f"live.session.{session_pk}"


def broadcast(groups: list[str], event: dict) -> None:
    """Send ``event`` to every group; from synchronous code (receivers, views). Receivers run
    on the OCPP database threads: in a server the sends are handed to its event loop and
    not waited for (a thread blocked on the busy loop would hold up every station)."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return

    async def send_all() -> None:
        for group in groups:
            await layer.group_send(group, {"type": EVENT_TYPE, "event": event})

    watched = watched_groups()
    groups = [group for group in groups if group in watched]
    if not groups:
        return  # nobody looks: nothing to send
    background.run(send_all, name="live update")


_STATION_CACHE_S = 30.0
_stations: dict[int, tuple[float, str, int | None]] = {}


def _dashboard_groups(station_pk: int) -> tuple[str | None, list[str]]:
    """The station's id and the dashboard groups it shows in; looked up at most every 30 s."""
    now = time.monotonic()
    cached = _stations.get(station_pk)
    if cached is None or now - cached[0] > _STATION_CACHE_S:
        row = ChargingStation.objects.filter(pk=station_pk).values("station_id", "site__organization_id").first()
        if row is None:
            return None, []
        cached = (now, row["station_id"], row["site__organization_id"])
        _stations[station_pk] = cached
    _, station_id, organization_pk = cached
    groups = [NETWORK_GROUP]
    if organization_pk is not None:
        groups.append(organization_group(organization_pk))
    return station_id, groups


def session_event(session: ChargingSession, cost=None) -> dict:
    """What a live session page shows, as JSON (also the polling endpoint's answer). ``cost``:
    the session's `billing.prices.Cost` if the caller has it already; otherwise priced here
    (the running cost from the meter values so far, or the CDR's once there is one)."""
    from billing.prices import session_cost
    from portal.selectors import latest_power_w

    if cost is None:
        cost = session_cost(session=session)
    return {
        "kind": "session",
        "session": session.pk,
        "status": session.status,
        "energy_wh": session.energy_wh,
        "energy_exported_wh": session.energy_exported_wh,
        "soc_percent": session.soc_percent,
        "operation_mode": session.operation_mode,
        # An ended session draws nothing, whatever its last sample said.
        "power_w": latest_power_w(session) if session.status == SessionStatus.ACTIVE else None,
        "meter_last_at": session.meter_last_at.isoformat() if session.meter_last_at else None,
        "stopped_at": session.stopped_at.isoformat() if session.stopped_at else None,
        "cost": None if cost is None else {
            "total_incl_vat": str(cost.total_incl_vat), "total_excl_vat": str(cost.total_excl_vat),
            "currency": cost.currency, "final": cost.final,
            "text": f"{cost.total_incl_vat} {cost.currency}",
        },
    }


def on_connector_status(sender, station_pk, evse_id, connector_id, status, error_code="", **kwargs):
    if not watched_groups():
        return
    station_id, groups = _dashboard_groups(station_pk)
    broadcast(groups, {"kind": "connector", "station": station_id, "evse": evse_id, "connector": connector_id,
                       "status": status, "error_code": error_code})


def on_station_presence(sender, station_pk, online, **kwargs):
    if not watched_groups():
        return
    station_id, groups = _dashboard_groups(station_pk)
    broadcast(groups, {"kind": "presence", "station": station_id, "online": online})


def on_meter_values(sender, station_pk, session_pks, **kwargs):
    """Per meter-value batch; costs nothing unless someone watches one of these sessions or a
    dashboard this station shows on (its cars' state of charge, energy in and out)."""
    watched = watched_groups()
    if not watched:
        return
    wanted = [pk for pk in session_pks if session_group(pk) in watched]
    for session in ChargingSession.objects.filter(pk__in=wanted):
        broadcast([session_group(session.pk)], session_event(session))
    station_id, groups = _dashboard_groups(station_pk)
    groups = [group for group in groups if group in watched]
    if station_id is not None and groups:
        from portal.selectors import charging_now

        cars = charging_now([station_pk])[station_pk]
        broadcast(groups, {"kind": "charging", "station": station_id, "charging": cars})


def on_session_started(sender, session, **kwargs):
    # Sent inside the transaction that creates the session: relay once it committed.
    station_pk, session_pk = session.station_id, session.pk

    def relay():
        if not watched_groups():
            return
        station_id, groups = _dashboard_groups(station_pk)
        broadcast(groups, {"kind": "session_started", "station": station_id, "session": session_pk})

    transaction.on_commit(relay)


def on_session_completed(sender, session_id, **kwargs):
    if not watched_groups():
        return
    session = ChargingSession.objects.filter(pk=session_id).first()
    if session is None:
        return
    broadcast([session_group(session.pk)], session_event(session))
    station_id, groups = _dashboard_groups(session.station_id)
    broadcast(groups, {"kind": "session_completed", "station": station_id, "session": session.pk})


def _robust(receiver):
    """session_started/session_completed are sent plainly (not via announce_on_commit):
    a failing relay must still never reach the protocol path."""

    def run(*args, **kwargs):
        try:
            receiver(*args, **kwargs)
        except Exception:
            log.exception("live update %s failed", receiver.__name__)

    run.__name__ = receiver.__name__
    return run


_RECEIVERS = [
    (connector_status_changed, _robust(on_connector_status)),
    (station_presence_changed, _robust(on_station_presence)),
    (meter_values_recorded, _robust(on_meter_values)),
    (session_started, _robust(on_session_started)),
    (session_completed, _robust(on_session_completed)),
]


def connect_receivers() -> None:
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False, dispatch_uid=f"portal.live.{receiver.__name__}")
