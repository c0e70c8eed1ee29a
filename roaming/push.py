"""The outbox: pushes owed to partners, written where they arise, sent in order.

An entry is written in the transaction that caused it (or right after it committed), so
a partner that is down loses nothing: its entries wait. ``drain`` sends a partner's due
entries oldest first and stops at the first that fails, so a partner never sees a session
update before the session itself. A failing entry is retried with exponential backoff
(30 s doubling, at most an hour) for as long as it takes when the partner is unreachable
or answers 5xx; when the partner refuses it (4xx) five times it is marked failed and the
queue moves on (an operator can requeue it in the admin).

Only one process drains a partner at a time: a lease on the partner row, taken with a
conditional UPDATE (works the same on SQLite and PostgreSQL).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from roaming import client, mapping
from roaming.models import OutboxEntry, OutboxStatus, Partner, PartnerStatus

log = logging.getLogger(__name__)

BASE_BACKOFF_S = 30
MAX_BACKOFF_S = 3600
MAX_REFUSALS = 5
LEASE_S = 300


def backoff_s(attempts: int) -> int:
    return min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** max(0, attempts - 1))


PARTNERS_CACHE_S = 10.0
_partners: tuple[float, list[Partner]] = (float("-inf"), [])


def registered_partners() -> list[Partner]:
    """The registered partners, read at most every PARTNERS_CACHE_S per process: status
    changes and session events (the OCPP path) ask for them all the time. Saving a partner
    here refreshes it at once; another process sees it within PARTNERS_CACHE_S."""
    global _partners
    now = time.monotonic()
    if now - _partners[0] > PARTNERS_CACHE_S:
        _partners = (now, list(Partner.objects.filter(status=PartnerStatus.REGISTERED)))
    return _partners[1]


def forget_partners(**kwargs) -> None:
    global _partners
    _partners = (float("-inf"), [])


def receivers_of(module: str):
    """Registered partners that take pushes of ``module``."""
    return [p for p in registered_partners()
            if p.endpoint(module, "RECEIVER") or p.endpoint(module) and p.role == "HUB"]


def _queue(partner: Partner, **fields) -> OutboxEntry:
    entry = OutboxEntry.objects.create(partner=partner, **fields)
    transaction.on_commit(lambda: schedule(partner.pk))
    return entry


def schedule(partner_pk: int) -> None:
    """Ask a worker to drain the partner's outbox (eagerly, here, without Redis)."""
    from roaming.tasks import deliver

    try:
        deliver.delay(partner_pk)
    except Exception:
        log.exception("could not schedule the outbox of partner %s; the periodic sweep will", partner_pk)


# --- what is owed -------------------------------------------------------------------------


def push_evse_status(*, station_pk: int, evse_id: int) -> int:
    """PATCH the EVSE's status to every partner taking locations; EVSE 0 (the whole station,
    or its presence) means all its EVSEs. Returns the number of entries queued."""
    from stations.models import Evse

    partners = receivers_of("locations")
    if not partners:
        return 0
    evses = Evse.objects.filter(station_id=station_pk, station__site__isnull=False).select_related("station__site")
    if evse_id:
        evses = evses.filter(evse_id=evse_id)
    queued = 0
    for evse in evses.prefetch_related("connectors"):
        payload = {"status": mapping.evse_status(evse), "last_updated": mapping.ocpi_datetime(timezone.now())}
        path = f"/{mapping.cc()}/{mapping.party()}/{mapping.location_id(evse.station.site)}/{mapping.evse_uid(evse)}"
        for partner in partners:
            _queue(partner, module="locations", method="PATCH", path=path, object_key=f"evse:{evse.pk}",
                   payload=payload)
            queued += 1
    return queued


def push_location(*, site_pk: int) -> int:
    """PUT the whole Location to every partner taking locations: a site published or changed,
    a station accepted or moved there, a connector seen for the first time. Sites without an
    accepted station are not published and not sent. Returns the number of entries queued."""
    partners = receivers_of("locations")
    if not partners:
        return 0
    site = mapping.published_sites().filter(pk=site_pk).first()
    if site is None:
        return 0
    payload = mapping.location_to_ocpi(site)
    path = f"/{mapping.cc()}/{mapping.party()}/{mapping.location_id(site)}"
    for partner in partners:
        _queue(partner, module="locations", method="PUT", path=path, object_key=f"location:{site.pk}",
               payload=payload)
    return len(partners)


def session_partner(session) -> Partner | None:
    token = session.id_token
    roaming = getattr(token, "roaming", None) if token is not None else None
    if roaming is None or roaming.partner.status != PartnerStatus.REGISTERED:
        return None
    return roaming.partner


def push_session(*, session_pk: int, update: bool = False, final: bool = False) -> bool:
    """PUT the whole Session to its token's eMSP. ``update``: a meter update, sent at most
    once per OCPI_SESSION_UPDATE_INTERVAL_S per session. ``final``: the completed session,
    sent once (the CDR push sends it first if it is not queued yet)."""
    from stations.models import ChargingSession

    if not registered_partners():
        return False  # no roaming at all: nothing to look up
    session = ChargingSession.objects.select_related(
        "station__site", "evse__station", "connector", "id_token__roaming__partner"
    ).filter(pk=session_pk).first()
    if session is None:
        return False
    partner = session_partner(session)
    if partner is None or not partner.endpoint("sessions"):
        return False
    key = f"session:{session.pk}"
    if final and OutboxEntry.objects.filter(partner=partner, object_key=key,
                                            payload__status="COMPLETED").exists():
        return False
    if update:
        since = timezone.now() - timedelta(seconds=settings.OCPI_SESSION_UPDATE_INTERVAL_S)
        if OutboxEntry.objects.filter(partner=partner, object_key=key, created_at__gte=since).exists():
            return False
    _queue(partner, module="sessions", method="PUT", object_key=key,
           path=f"/{mapping.cc()}/{mapping.party()}/{session.pk}", payload=mapping.session_to_ocpi(session))
    return True


def push_cdr(*, cdr_pk: int) -> bool:
    from billing.models import ChargeDetailRecord

    cdr = ChargeDetailRecord.objects.select_related(
        "session__station__site", "session__evse__station", "session__connector", "session__id_token__roaming__partner"
    ).filter(pk=cdr_pk).first()
    if cdr is None:
        return False
    partner = session_partner(cdr.session)
    if partner is None or not partner.endpoint("cdrs"):
        return False
    push_session(session_pk=cdr.session_id, final=True)  # the eMSP hears the session end before its CDR
    _queue(partner, module="cdrs", method="POST", object_key=f"cdr:{cdr.pk}", payload=mapping.cdr_to_ocpi(cdr))
    return True


def push_result(*, partner: Partner, module: str, response_url: str, payload: dict) -> OutboxEntry:
    """An asynchronous result (charging profiles) POSTed to the partner's response_url."""
    return _queue(partner, module=module, method="POST", url=response_url, payload=payload)


def push_command_result(*, partner: Partner, response_url: str, result: str, message: str = "") -> OutboxEntry:
    payload = {"result": result}
    if message:
        payload["message"] = [{"language": "en", "text": message[:512]}]
    return _queue(partner, module="commands", method="POST", url=response_url, payload=payload)


# --- sending --------------------------------------------------------------------------------


def _take_lease(partner_pk: int) -> bool:
    now = timezone.now()
    return bool(
        Partner.objects.filter(pk=partner_pk)
        .filter(Q(drain_lease_until__isnull=True) | Q(drain_lease_until__lt=now))
        .update(drain_lease_until=now + timedelta(seconds=LEASE_S))
    )


def _url_of(entry: OutboxEntry) -> str | None:
    if entry.url:
        return entry.url
    base = entry.partner.endpoint(entry.module, "RECEIVER") or entry.partner.endpoint(entry.module)
    return (base.rstrip("/") + entry.path) if base else None


def drain(*, partner_pk: int) -> float | None:
    """Send the partner's due entries in order. Returns seconds until the next is due, or
    None when nothing waits (or another process holds the lease)."""
    if not _take_lease(partner_pk):
        return None
    try:
        partner = Partner.objects.get(pk=partner_pk)
        if partner.status != PartnerStatus.REGISTERED:
            return None
        while True:
            entry = OutboxEntry.objects.filter(partner=partner, status=OutboxStatus.PENDING).order_by("id").first()
            if entry is None:
                return None
            now = timezone.now()
            if entry.next_attempt_at is not None and entry.next_attempt_at > now:
                return (entry.next_attempt_at - now).total_seconds()
            entry.partner = partner
            if not _send(entry):
                if entry.status == OutboxStatus.PENDING:
                    return (entry.next_attempt_at - timezone.now()).total_seconds()
    finally:
        Partner.objects.filter(pk=partner_pk).update(drain_lease_until=None)


def _send(entry: OutboxEntry) -> bool:
    url = _url_of(entry)
    entry.attempts += 1
    try:
        if url is None:
            raise client.PartnerError(f"the partner lists no {entry.module} endpoint", http_status=404)
        client.call(entry.partner, entry.method, url, payload=entry.payload)
    except client.PartnerError as error:
        entry.last_error = str(error)[:500]
        refused = error.http_status is not None and 400 <= error.http_status < 500
        if refused and entry.attempts >= MAX_REFUSALS:
            entry.status = OutboxStatus.FAILED
            log.error("partner %s refused %s for good: %s", entry.partner, entry, error)
        else:
            entry.next_attempt_at = timezone.now() + timedelta(seconds=backoff_s(entry.attempts))
        entry.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return False
    entry.status, entry.sent_at, entry.last_error = OutboxStatus.SENT, timezone.now(), ""
    entry.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return True


def requeue(entries) -> int:
    """Admin: send failed (or waiting) entries again, now."""
    return entries.exclude(status=OutboxStatus.SENT).update(status=OutboxStatus.PENDING, next_attempt_at=None)
