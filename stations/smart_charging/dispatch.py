"""Where a re-balance runs: a Celery task with workers, the server's event loop embedded.

Requests come from signal receivers on the OCPP threads, from the API and from the admin;
none of them waits for the stations' answers. Requests caused by meter values and status
changes are rate-limited per site and process (``meter_rebalance_interval_s``); session
start and stop are not.
"""

import time

from stations import background

_last_request: dict[int, float] = {}


def _eager() -> bool:
    from chargenet.celery import app

    return bool(app.conf.task_always_eager)


def request_rebalance(*, site_pk: int, delay_s: float = 0.0, reason: str = "", min_interval_s: float = 0.0) -> bool:
    """Ask for a re-balance of the site. False when rate-limited away."""
    if min_interval_s:
        now = time.monotonic()
        if now - _last_request.get(site_pk, -1e9) < min_interval_s:
            return False
        _last_request[site_pk] = now
    if not _eager():
        from stations.smart_charging.tasks import rebalance_site

        rebalance_site.apply_async(args=[site_pk], countdown=delay_s or None)
        return True
    return background.run(lambda: _rebalance_eagerly(site_pk), delay_s=delay_s, name=f"rebalance {site_pk}")


async def _rebalance_eagerly(site_pk: int):
    """One re-balance on this process's loop; stations that did not take their profile are
    tried again a little later."""
    from stations.smart_charging.load_manager import RETRY_AFTER_FAILURE_S, rebalance_site_async

    outcome = await rebalance_site_async(site_pk)
    if outcome.failures:
        background.run(lambda: _rebalance_eagerly(site_pk), delay_s=RETRY_AFTER_FAILURE_S, name=f"retry {site_pk}")
    return outcome


def request_fallback(*, site_pk: int, station_pk: int | None = None, delay_s: float = 0.0) -> None:
    """Send the site's safe default profile to one station (after it booted) or to all."""
    if not _eager():
        from stations.smart_charging.tasks import send_fallback_profiles

        send_fallback_profiles.apply_async(args=[site_pk, station_pk], countdown=delay_s or None)
        return
    from stations.smart_charging.load_manager import send_fallback_async

    background.run(lambda: send_fallback_async(site_pk=site_pk, station_pk=station_pk), delay_s=delay_s,
                   name="fallback")
