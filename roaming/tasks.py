"""Celery tasks of roaming. Eager without REDIS_URL; with it, run by any worker.

This module sits on top of the app: it imports the services it runs, and registers itself
in ``roaming.jobs`` so those services can ask for work by name without importing it."""

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from roaming import charging_profiles, commands, jobs, outbox, pulls
from roaming.models import OutboxEntry, OutboxStatus


@shared_task(name="roaming.deliver", bind=True)
def deliver(self, partner_pk: int) -> None:
    """Drain a partner's outbox; when an entry waits for its backoff, come back then."""
    wait_s = outbox.drain(partner_pk=partner_pk)
    if wait_s is not None and not self.request.is_eager:
        deliver.apply_async((partner_pk,), countdown=max(1.0, wait_s))


@shared_task(name="roaming.deliver_all")
def deliver_all() -> int:
    """Beat's safety net (a worker restarted, a countdown lost): drain every outbox with work due."""
    due = (
        OutboxEntry.objects.filter(status=OutboxStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .values_list("partner_id", flat=True).distinct()
    )
    partners = list(due)
    for partner_pk in partners:
        outbox.drain(partner_pk=partner_pk)
    return len(partners)


@shared_task(name="roaming.run_charging_profile")
def run_charging_profile(partner_pk: int, session_pk: int, method: str, profile: dict | None, response_url: str,
                         duration: int = 0) -> str:
    """Carry out a partner's charging-profile request and report the result to response_url."""
    return charging_profiles.execute(partner_pk=partner_pk, session_pk=session_pk, method=method, profile=profile,
                                     response_url=response_url, duration=duration)


@shared_task(name="roaming.run_command")
def run_command(partner_pk: int, station_id: str, command: str, params: dict, response_url: str,
                ocpi_reservation_id: str = "") -> str:
    """Send a partner's command to the station and report the CommandResult to response_url."""
    return commands.execute(partner_pk=partner_pk, station_id=station_id, command=command, params=params,
                            response_url=response_url, ocpi_reservation_id=ocpi_reservation_id)


@shared_task(name="roaming.pull_partner")
def pull_partner(partner_pk: int) -> dict:
    """Pull a CPO partner's locations and tariffs (all pages): after registration and on beat."""
    return pulls.pull_partner(partner_pk=partner_pk)


@shared_task(name="roaming.pull_all")
def pull_all() -> int:
    """Beat: refresh every CPO partner's locations and tariffs (pushes may have been missed)."""
    return pulls.pull_all()


jobs.register("deliver", deliver.delay)
jobs.register("run_command", run_command.delay)
jobs.register("run_charging_profile", run_charging_profile.delay)
jobs.register("pull_partner", pull_partner.delay)
