"""Celery tasks of the load manager (with REDIS_URL; embedded, see dispatch)."""

from datetime import timedelta

from asgiref.sync import async_to_sync
from celery import shared_task
from django.db.models import Exists, OuterRef
from django.utils import timezone

from stations.models import ChargingSession, SessionStatus, SiteLoadLimit, SiteLoadSample

SAMPLE_RETENTION = timedelta(days=90)


@shared_task(ignore_result=True)
def rebalance_site(site_pk: int) -> dict:
    from stations.smart_charging.load_manager import RETRY_AFTER_FAILURE_S, rebalance_site_async

    outcome = async_to_sync(rebalance_site_async)(site_pk)
    if outcome.failures:  # stations that did not take their profile: try again a little later
        rebalance_site.apply_async(args=[site_pk], countdown=RETRY_AFTER_FAILURE_S)
    return {"site": site_pk, "ran": outcome.ran, "sent": outcome.profiles_sent, "failures": outcome.failures}


@shared_task(ignore_result=True)
def send_fallback_profiles(site_pk: int, station_pk: int | None = None) -> int:
    from stations.smart_charging.load_manager import send_fallback_async

    return async_to_sync(send_fallback_async)(site_pk=site_pk, station_pk=station_pk)


@shared_task(ignore_result=True)
def rebalance_managed_sites() -> int:
    """Beat tick: sites with sessions are re-balanced now and then even without meter values
    (schedule periods begin and end, profiles must be renewed before they expire)."""
    charging = ChargingSession.objects.filter(station__site_id=OuterRef("site_id"), status=SessionStatus.ACTIVE)
    sites = list(
        SiteLoadLimit.objects.filter(enabled=True).filter(Exists(charging)).values_list("site_id", flat=True)
    )
    for site_pk in sites:
        rebalance_site.delay(site_pk)
    return len(sites)


@shared_task(ignore_result=True)
def prune_load_samples() -> int:
    """The power chart keeps SAMPLE_RETENTION of history (a point per re-balance)."""
    deleted, _ = SiteLoadSample.objects.filter(at__lt=timezone.now() - SAMPLE_RETENTION).delete()
    return deleted
