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

What is owed (which pushes arise from which event) lives in ``roaming.push``.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from roaming import client, jobs
from roaming.models import OutboxEntry, OutboxStatus, Partner, PartnerStatus

log = logging.getLogger(__name__)

BASE_BACKOFF_S = 30
MAX_BACKOFF_S = 3600
MAX_REFUSALS = 5
LEASE_S = 300


def backoff_s(attempts: int) -> int:
    return min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** max(0, attempts - 1))


def queue(partner: Partner, **fields) -> OutboxEntry:
    """Owe the partner one request; it is sent once the surrounding transaction commits."""
    entry = OutboxEntry.objects.create(partner=partner, **fields)
    transaction.on_commit(lambda: schedule(partner.pk))
    return entry


def schedule(partner_pk: int) -> None:
    """Ask a worker to drain the partner's outbox (eagerly, here, without Redis)."""
    try:
        jobs.enqueue("deliver", partner_pk)
    except Exception:
        log.exception("could not schedule the outbox of partner %s; the periodic sweep will", partner_pk)


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
        to_party = (entry.to_country_code, entry.to_party_id) if entry.to_party_id else None
        client.call(entry.partner, entry.method, url, payload=entry.payload, to_party=to_party)
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
