"""What other apps (billing, roaming, portals, smart charging) hear about the network.

Sent by stations.services: ``session_started`` inside the transaction that creates the
session (a receiver's writes commit or roll back with it); every other signal after the
transaction that caused it committed (a receiver may queue work for other processes).
Receivers run on the thread that handled the OCPP message: keep them cheap and never
let them raise into the protocol path (hand heavy work to Celery or the channel layer).
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

session_started = Signal()  # kwargs: session
session_completed = Signal()  # kwargs: session_id
connector_status_changed = Signal()  # kwargs: station_pk, evse_id, connector_id, status, error_code
station_presence_changed = Signal()  # kwargs: station_pk, online
station_booted = Signal()  # kwargs: station_pk, registration_status (after a BootNotification)
meter_values_recorded = Signal()  # kwargs: station_pk, session_pks (sessions whose registers moved)
# Sent inside the transaction that logs a command's answer (a receiver's writes share its fate).
command_answered = Signal()  # kwargs: station, command, params, response, accepted


def announce_on_commit(signal: Signal, **kwargs) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one).
    A failing receiver is logged, never raised into the caller."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("receiver %r of %s failed", receiver, kwargs, exc_info=result)

    transaction.on_commit(send)
