"""Billing's reactions to charging sessions.

Started: snapshot the tariff, inside the transaction of the OCPP message that opened the
session. Billing must never stop a car from charging, so a failure there is logged and rolled
back to a savepoint; the CDR then resolves the tariff when the session ends.

Market prices imported: the load manager of the feed's sites plans on the new curve (billing
feeds it; stations knows nothing of billing).

Tariff changed or (re)assigned: OCPP 2.1 stations that calculate cost locally get the tariff
that now applies to them (SetDefaultTariff, `billing.station_tariffs`), after commit, in the
background.

Completed: queue the pricing task once the completing transaction has committed (the signal
already comes after commit; ``on_commit`` keeps that true for any other sender). Without
REDIS_URL the task runs at once, in this process; its failure is logged, never raised into
the station's message handling.
"""

import logging

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from billing.models import Tariff, TariffAssignment
from billing.signals import cdr_created, market_prices_imported
from billing.tariffs import snapshot_session_tariff
from billing.tasks import price_session
from stations.models import ChargingStation, Evse
from stations.signals import command_answered, meter_values_recorded, session_completed, session_started

logger = logging.getLogger(__name__)


@receiver(session_started, dispatch_uid="billing.snapshot_tariff")
def snapshot_tariff(sender, session, **kwargs) -> None:
    try:
        snapshot_session_tariff(session=session)  # atomic: a savepoint inside the message's transaction
    except Exception:
        logger.exception("tariff snapshot of session %s failed; it will be resolved when the session ends", session.pk)


@receiver(session_completed, dispatch_uid="billing.price_session")
def price_completed_session(sender, session_id, **kwargs) -> None:
    transaction.on_commit(lambda: _queue_pricing(session_id))


def _queue_pricing(session_id: int) -> None:
    try:
        price_session.delay(session_id)
    except Exception:
        logger.exception("pricing session %s failed; run billing.cdrs.create_cdr(session_id=%s) again",
                         session_id, session_id)


@receiver(market_prices_imported, dispatch_uid="billing.feed_load_manager_curves")
def feed_load_manager_curves(sender, feed_pk, **kwargs) -> None:
    """Write the feed's curve (incl. margin and VAT, from now on) into its sites' load limits."""
    from billing.market import load_manager_curve
    from billing.models import MarketPriceFeed
    from stations.smart_charging.models import SiteLoadLimit

    feed = MarketPriceFeed.objects.filter(pk=feed_pk).first()
    if feed is None:
        return
    curve = load_manager_curve(feed, since=timezone.now())
    SiteLoadLimit.objects.filter(site__in=feed.load_sites.all()).update(curve=curve)
    # Partners sync tariffs by last_updated: the dynamic tariffs' published prices changed.
    feed.tariffs.update(last_updated=timezone.now())


@receiver(cdr_created, dispatch_uid="billing.final_cost_to_station")
def final_cost_to_station(sender, cdr_pk, **kwargs) -> None:
    """1.6 California Pricing: the station shows the final cost once the CDR is written."""
    from billing.models import ChargeDetailRecord
    from billing.station_prices import final_cost_command, send_command_tuple
    from stations import background

    session_pk = ChargeDetailRecord.objects.filter(pk=cdr_pk).values_list("session_id", flat=True).first()
    command = final_cost_command(session_pk=session_pk) if session_pk else None
    if command is not None:
        background.run(lambda: send_command_tuple(command), name="final cost to station")


@receiver(command_answered, dispatch_uid="billing.forget_display_support")
def forget_display_support(sender, station, command, **kwargs) -> None:
    """A configuration or variables answer may change what the station displays (1.6
    CustomDisplayCostAndPrice, 2.0.1 TariffCostCtrlr): read it again on the next message."""
    if command in ("get_configuration", "set_configuration", "get_base_report"):
        from billing.station_prices import default_price_command, forget_support, send_soon

        forget_support(station.pk)
        if command == "get_configuration":  # California Pricing found: the station's default price
            send_soon(default_price_command(station_pk=station.pk), name="DefaultPrice to the station")


@receiver(meter_values_recorded, dispatch_uid="billing.running_cost_to_station")
def running_cost_to_station(sender, station_pk, session_pks=(), **kwargs) -> None:
    """The running cost follows the meter values, at most every OCPP_COST_UPDATE_INTERVAL_S per
    session (the beat sweep covers sessions whose meter is quiet). Off the frame path: a station
    known not to show costs costs nothing here; the rest runs on the server loop."""
    from django.conf import settings

    from billing.station_prices import cached_support, send_running_costs
    from stations import background

    if settings.OCPP_COST_UPDATE_INTERVAL_S <= 0 or not session_pks:
        return
    support = cached_support(station_pk)
    if support is not None and not support.cost:
        return
    pks = list(session_pks)
    background.run_soon(lambda: send_running_costs(station_pk=station_pk, session_pks=pks),
                        name="running cost to station")


def _push_tariffs_after_commit(**kwargs) -> None:
    """OCPP 2.1 stations that calculate cost locally get their tariff again (SetDefaultTariff)
    once the change is committed; the commands go out in the background (`send_soon`)."""
    from billing.station_tariffs import push_default_tariffs

    def push() -> None:
        try:
            push_default_tariffs(**kwargs)
        except Exception:
            logger.exception("tariffs to OCPP 2.1 stations (%s) failed", kwargs)

    transaction.on_commit(push)


@receiver(post_save, sender=Tariff, dispatch_uid="billing.tariff_changed_to_stations")
def tariff_changed_to_stations(sender, instance, created, raw=False, **kwargs) -> None:
    # A new tariff applies nowhere until it is assigned or made the default.
    if not raw and (not created or instance.is_default):
        _push_tariffs_after_commit(tariff_pk=instance.pk)


@receiver([post_save, post_delete], sender=TariffAssignment, dispatch_uid="billing.assignment_to_stations")
def assignment_to_stations(sender, instance, raw=False, **kwargs) -> None:
    if raw:
        return
    if instance.site_id is not None:
        station_pks = list(ChargingStation.objects.filter(site_id=instance.site_id).values_list("pk", flat=True))
    elif instance.evse_id is not None:
        station_pks = list(Evse.objects.filter(pk=instance.evse_id).values_list("station_id", flat=True))
    else:
        station_pks = [instance.station_id]
    _push_tariffs_after_commit(station_pks=station_pks)
