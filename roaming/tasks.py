"""Celery tasks of roaming. Eager without REDIS_URL; with it, run by any worker."""

from celery import shared_task


@shared_task(name="roaming.deliver", bind=True)
def deliver(self, partner_pk: int) -> None:
    """Drain a partner's outbox; when an entry waits for its backoff, come back then."""
    from roaming.push import drain

    wait_s = drain(partner_pk=partner_pk)
    if wait_s is not None and not self.request.is_eager:
        deliver.apply_async((partner_pk,), countdown=max(1.0, wait_s))


@shared_task(name="roaming.deliver_all")
def deliver_all() -> int:
    """Beat's safety net (a worker restarted, a countdown lost): drain every outbox with work due."""
    from django.db.models import Q
    from django.utils import timezone

    from roaming.models import OutboxEntry, OutboxStatus
    from roaming.push import drain

    due = (
        OutboxEntry.objects.filter(status=OutboxStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .values_list("partner_id", flat=True).distinct()
    )
    partners = list(due)
    for partner_pk in partners:
        drain(partner_pk=partner_pk)
    return len(partners)


@shared_task(name="roaming.run_charging_profile")
def run_charging_profile(partner_pk: int, session_pk: int, method: str, profile: dict | None, response_url: str,
                         duration: int = 0) -> str:
    """Carry out a partner's charging-profile request and report the result to response_url."""
    from roaming.charging_profiles import execute

    return execute(partner_pk=partner_pk, session_pk=session_pk, method=method, profile=profile,
                   response_url=response_url, duration=duration)


@shared_task(name="roaming.run_command")
def run_command(partner_pk: int, station_id: str, command: str, params: dict, response_url: str,
                ocpi_reservation_id: str = "") -> str:
    """Send a partner's command to the station and report the CommandResult to response_url."""
    from roaming.commands import execute

    return execute(partner_pk=partner_pk, station_id=station_id, command=command, params=params,
                   response_url=response_url, ocpi_reservation_id=ocpi_reservation_id)
