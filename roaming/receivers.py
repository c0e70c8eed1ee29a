"""Roaming's reactions to the network: EVSE status, sessions and CDRs become outbox entries.

Receivers never raise into the station's message handling: a failure is logged.
"""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.signals import cdr_created
from roaming import offered_tokens, partners, push
from roaming.models import Partner
from stations.models import ChargingStation, Connector, IdToken, Site
from stations.signals import (
    connector_status_changed,
    meter_values_recorded,
    session_completed,
    session_started,
    station_presence_changed,
)

log = logging.getLogger(__name__)


def _safely(what: str, func, **kwargs) -> None:
    try:
        func(**kwargs)
    except Exception:
        log.exception("roaming: %s failed (%s)", what, kwargs)


@receiver(connector_status_changed, dispatch_uid="roaming.evse_status")
def evse_status_changed(sender, station_pk, evse_id, **kwargs) -> None:
    _safely("EVSE status push", push.push_evse_status, station_pk=station_pk, evse_id=evse_id)


@receiver(station_presence_changed, dispatch_uid="roaming.station_presence")
def station_presence_changed_(sender, station_pk, **kwargs) -> None:
    # Offline: every EVSE is UNKNOWN; back online: their reported status again.
    _safely("EVSE status push", push.push_evse_status, station_pk=station_pk, evse_id=0)


@receiver(session_started, dispatch_uid="roaming.session_started")
def session_started_(sender, session, **kwargs) -> None:
    # Sent inside the session's transaction: push once it is committed.
    session_pk = session.pk
    transaction.on_commit(lambda: _safely("session push", push.push_session, session_pk=session_pk))


_last_update: dict[int, float] = {}


@receiver(meter_values_recorded, dispatch_uid="roaming.session_updated")
def session_updated(sender, session_pks=(), **kwargs) -> None:
    """Per meter-value batch (the OCPP hot path): a session is looked at no more than once per
    OCPI_SESSION_UPDATE_INTERVAL_S in this process, whether it roams or not."""
    now, interval = time.monotonic(), settings.OCPI_SESSION_UPDATE_INTERVAL_S
    if len(_last_update) > 50_000:
        _last_update.clear()
    for session_pk in session_pks:
        if now - _last_update.get(session_pk, float("-inf")) < interval:
            continue
        _last_update[session_pk] = now
        _safely("session update push", push.push_session, session_pk=session_pk, update=True)


@receiver(session_completed, dispatch_uid="roaming.session_completed")
def session_completed_(sender, session_id, **kwargs) -> None:
    _safely("session push", push.push_session, session_pk=session_id, final=True)


@receiver(cdr_created, dispatch_uid="roaming.cdr")
def cdr_created_(sender, cdr_pk, **kwargs) -> None:
    _safely("CDR push", push.push_cdr, cdr_pk=cdr_pk)


@receiver(post_save, sender=Partner, dispatch_uid="roaming.partner_saved")
@receiver(post_delete, sender=Partner, dispatch_uid="roaming.partner_deleted")
def partner_changed(sender, **kwargs) -> None:
    partners.forget_partners()


# --- whole Locations: new or changed sites, stations and connectors ---------------------------


def _push_location_after_commit(site_pk: int | None) -> None:
    if site_pk is not None and partners.receivers_of("locations"):
        transaction.on_commit(lambda: _safely("location push", push.push_location, site_pk=site_pk))


@receiver(post_save, sender=Site, dispatch_uid="roaming.site_saved")
def site_saved(sender, instance, **kwargs) -> None:
    _push_location_after_commit(instance.pk)


@receiver(post_save, sender=ChargingStation, dispatch_uid="roaming.station_saved")
def station_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    """A station joins a site's Location when it is accepted there (a boot's save names its
    fields and leaves the Location alone)."""
    if created or update_fields is None or {"site", "registration_status"} & set(update_fields):
        _push_location_after_commit(instance.site_id)


@receiver(post_save, sender=Connector, dispatch_uid="roaming.connector_created")
def connector_created(sender, instance, created, **kwargs) -> None:
    """An EVSE is published with its first connector (its first StatusNotification)."""
    if created and partners.receivers_of("locations"):
        _push_location_after_commit(ChargingStation.objects.filter(evses=instance.evse_id)
                                    .values_list("site_id", flat=True).first())


# --- ChargeNet as eMSP: our drivers' tokens, pushed to CPO partners when they change ---------


@receiver(post_save, sender=IdToken, dispatch_uid="roaming.token_saved")
def token_saved(sender, instance, **kwargs) -> None:
    """A driver's token created, blocked or changed: CPO partners hear it (partners' own
    tokens have no driver and are left alone)."""
    if instance.driver_id is not None and partners.receivers_of("tokens"):
        token_pk = instance.pk
        transaction.on_commit(lambda: _safely("token push", _push_token, token_pk=token_pk))


def _push_token(*, token_pk: int) -> None:
    token = IdToken.objects.filter(pk=token_pk).select_related("roaming").first()
    if token is not None:
        offered_tokens.push_token(token=token)
