"""What makes the load manager re-balance a site: sessions starting and ending, meter
values, cars pausing or resuming, stations coming and going. Receivers only look up the
station's site (cached) and ask for a re-balance; they never wait for it."""

import logging
import time

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from stations.models import ChargingStation, ConnectorStatus
from stations.signals import (
    connector_status_changed,
    meter_values_recorded,
    session_completed,
    session_started,
    station_booted,
    station_presence_changed,
)
from stations.smart_charging.dispatch import request_fallback, request_rebalance
from stations.smart_charging.models import SiteLoadLimit

logger = logging.getLogger(__name__)

CACHE_S = 30.0
FALLBACK_DELAY_S = 1.0  # let the BootNotification answer reach the station first
_DEMAND_STATUSES = {ConnectorStatus.SUSPENDED_EV, ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EVSE}
# station pk -> (site pk, meter re-balance interval) of every station on a managed site,
# read in one query and kept CACHE_S: a reconnect storm's thousands of boots, status reports
# and meter values ask about every station within seconds.
_managed: tuple[float, dict[int, tuple[int, float]]] | None = None


def managed_site(station_pk: int) -> tuple[int | None, float]:
    """(site pk, meter re-balance interval) when the station's site has load management."""
    global _managed
    now = time.monotonic()
    if _managed is None or now - _managed[0] >= CACHE_S:
        rows = ChargingStation.objects.filter(site__load_limit__enabled=True).values_list(
            "pk", "site_id", "site__load_limit__meter_rebalance_interval_s"
        )
        _managed = (now, {pk: (site_pk, float(interval)) for pk, site_pk, interval in rows})
    return _managed[1].get(station_pk, (None, 0.0))


def forget_sites() -> None:
    """After a site's load limit changed (enabled, interval) or a station moved: look again."""
    global _managed
    _managed = None


@receiver(post_save, sender=ChargingStation, dispatch_uid="smart_charging.station_saved")
def on_station_saved(sender, update_fields=None, **kwargs) -> None:
    if update_fields is None or "site" in update_fields or "site_id" in update_fields:
        forget_sites()


@receiver(post_save, sender=SiteLoadLimit, dispatch_uid="smart_charging.limit_saved")
@receiver(post_delete, sender=SiteLoadLimit, dispatch_uid="smart_charging.limit_deleted")
@receiver(post_delete, sender=ChargingStation, dispatch_uid="smart_charging.station_deleted")
def on_site_membership_changed(sender, **kwargs) -> None:
    forget_sites()


def _safely(func, **kwargs) -> None:
    try:
        func(**kwargs)
    except Exception:
        logger.exception("load manager request %s%s failed", func.__name__, kwargs)


@receiver(session_started, dispatch_uid="smart_charging.session_started")
def on_session_started(sender, session, **kwargs) -> None:
    station_pk = session.station_id
    transaction.on_commit(lambda: _rebalance_station_site(station_pk))


@receiver(session_completed, dispatch_uid="smart_charging.session_completed")
def on_session_completed(sender, session_id, **kwargs) -> None:
    from stations.models import ChargingSession

    station_pk = ChargingSession.objects.filter(pk=session_id).values_list("station_id", flat=True).first()
    if station_pk is not None:
        _rebalance_station_site(station_pk)


def _rebalance_station_site(station_pk: int) -> None:
    site_pk, _ = managed_site(station_pk)
    if site_pk is not None:
        _safely(request_rebalance, site_pk=site_pk, reason="session")


@receiver(meter_values_recorded, dispatch_uid="smart_charging.meter_values")
def on_meter_values(sender, station_pk, session_pks, **kwargs) -> None:
    site_pk, interval = managed_site(station_pk)
    if site_pk is not None:
        _safely(request_rebalance, site_pk=site_pk, reason="meter values", min_interval_s=interval)


@receiver(connector_status_changed, dispatch_uid="smart_charging.status")
def on_status(sender, station_pk, status, **kwargs) -> None:
    if status not in _DEMAND_STATUSES:
        return
    site_pk, interval = managed_site(station_pk)
    if site_pk is not None:
        _safely(request_rebalance, site_pk=site_pk, reason="status", min_interval_s=interval)


@receiver(station_booted, dispatch_uid="smart_charging.booted")
def on_booted(sender, station_pk, registration_status, **kwargs) -> None:
    if registration_status != "Accepted":
        return
    site_pk, _ = managed_site(station_pk)
    if site_pk is not None:
        _safely(request_fallback, site_pk=site_pk, station_pk=station_pk, delay_s=FALLBACK_DELAY_S)


@receiver(station_presence_changed, dispatch_uid="smart_charging.presence")
def on_presence(sender, station_pk, online, **kwargs) -> None:
    """A station that went offline is counted at its maximum: the others may need less."""
    if online:
        return
    site_pk, _ = managed_site(station_pk)
    if site_pk is not None:
        _safely(request_rebalance, site_pk=site_pk, reason="station offline")
