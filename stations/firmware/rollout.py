"""Firmware rollout campaigns: who gets a firmware, in which wave, when, and how far each got.

A campaign resolves its stations once, at creation, into waves: a canary share first, then
waves of ``wave_size``. A tick (Celery beat, or any caller) advances a running campaign:
it fails stations that went silent, halts the campaign when too much of the current wave
failed, moves to the next wave once one is done, and claims the next stations to update,
never more than ``max_concurrent`` in flight, only inside each site's maintenance window
(its own time zone), never a station with a session in progress.

Several workers may tick at once: a tick locks its campaign row, a station is claimed by a
conditional UPDATE (scheduled -> sending), and a partial unique index forbids two updates in
flight on one station, whichever campaigns ask. What stations report (FirmwareStatusNotification,
the version in their next BootNotification) moves each station on.
"""

import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from stations.firmware.models import (
    FINAL_STATES,
    IN_FLIGHT_STATES,
    CampaignStation,
    CampaignStatus,
    FirmwareCampaign,
    FirmwareImage,
    MemberState,
)
from stations.models import ChargingSession, ChargingStation, SessionStatus

logger = logging.getLogger(__name__)


class CampaignError(ValueError):
    """The campaign cannot be created or changed as asked; the message says why."""


# --- pure planning ------------------------------------------------------------------------


def plan_waves(station_ids: list, *, canary_percent: int, wave_size: int) -> list[list]:
    """Split stations into waves: ceil(canary_percent % of them) canaries (at least one when
    the share is above 0), then waves of ``wave_size``. Every station lands in exactly one wave."""
    if wave_size < 1:
        raise CampaignError("wave_size must be at least 1")
    if not 0 <= canary_percent <= 100:
        raise CampaignError("canary_percent must be between 0 and 100")
    ids = list(station_ids)
    canaries = min(len(ids), math.ceil(len(ids) * canary_percent / 100)) if ids else 0
    waves = [ids[:canaries]] if canaries else []
    rest = ids[canaries:]
    waves += [rest[i:i + wave_size] for i in range(0, len(rest), wave_size)]
    return waves


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r: using UTC", name)
        return ZoneInfo("UTC")


def in_window(*, now: datetime, time_zone: str, start: time | None, end: time | None) -> bool:
    """Is ``now`` (aware) inside [start, end) on the site's local clock? A window whose end
    is before its start runs overnight (22:00-04:00); no window, or start == end, is always."""
    if start is None or end is None or start == end:
        return True
    local = now.astimezone(zone(time_zone)).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


@dataclass(frozen=True)
class Candidate:
    """A scheduled station as the planner sees it."""

    member_id: int
    online: bool
    charging: bool
    in_window: bool
    busy_elsewhere: bool = False  # another campaign's update in flight on it


def pick(candidates: list[Candidate], *, in_flight: int, max_concurrent: int) -> tuple[list[int], dict[int, str]]:
    """Which candidates to start now, and why each other one waits."""
    free = max(0, max_concurrent - in_flight)
    chosen, waiting = [], {}
    for c in candidates:
        if not c.online:
            waiting[c.member_id] = "station offline"
        elif not c.in_window:
            waiting[c.member_id] = "outside the maintenance window"
        elif c.charging:
            waiting[c.member_id] = "session in progress"
        elif c.busy_elsewhere:
            waiting[c.member_id] = "another update in progress"
        elif len(chosen) >= free:
            waiting[c.member_id] = "concurrency limit"
        else:
            chosen.append(c.member_id)
    return chosen, waiting


def retry_delay(*, attempts: int, backoff_s: int) -> timedelta:
    """Backoff after the ``attempts``-th failed attempt: backoff, 2x, 4x ..."""
    return timedelta(seconds=backoff_s * 2 ** max(attempts - 1, 0))


# --- creating and steering campaigns -------------------------------------------------------


def select_targets(
    *,
    firmware: FirmwareImage,
    sites: list[int] | None = None,
    models: list[str] | None = None,
    current_versions: list[str] | None = None,
    stations: list[str] | None = None,
) -> QuerySet[ChargingStation]:
    """Stations the firmware fits (vendor, model) that match every filter given."""
    targets = ChargingStation.objects.filter(vendor=firmware.vendor)
    if firmware.station_models:
        targets = targets.filter(model__in=firmware.station_models)
    if sites:
        targets = targets.filter(site_id__in=sites)
    if models:
        targets = targets.filter(model__in=models)
    if current_versions:
        targets = targets.filter(firmware_version__in=current_versions)
    if stations:
        unknown = set(stations) - set(ChargingStation.objects.filter(station_id__in=stations)
                                      .values_list("station_id", flat=True))
        if unknown:
            raise CampaignError(f"unknown stations: {', '.join(sorted(unknown))}")
        unfit = set(stations) - set(targets.filter(station_id__in=stations).values_list("station_id", flat=True))
        if unfit and not (sites or models or current_versions):
            raise CampaignError(f"{firmware} does not fit: {', '.join(sorted(unfit))}")
        targets = targets.filter(station_id__in=stations)
    return targets.order_by("station_id")


def resolve_targets(
    *,
    firmware: FirmwareImage,
    sites: list[int] | None = None,
    models: list[str] | None = None,
    current_versions: list[str] | None = None,
    stations: list[str] | None = None,
    window_start: time | None = None,
    window_end: time | None = None,
) -> list[ChargingStation]:
    """The stations a campaign would update; CampaignError when the request makes no sense."""
    if (window_start is None) != (window_end is None):
        raise CampaignError("a maintenance window needs both a start and an end")
    if not (sites or models or current_versions or stations):
        raise CampaignError("choose the targets: sites, models, current versions or a list of stations")
    targets = list(select_targets(firmware=firmware, sites=sites, models=models,
                                  current_versions=current_versions, stations=stations))
    if not targets:
        raise CampaignError("no station matches the targets and fits the firmware")
    return targets


@transaction.atomic
def create_campaign(
    *,
    name: str,
    firmware: FirmwareImage,
    sites: list[int] | None = None,
    models: list[str] | None = None,
    current_versions: list[str] | None = None,
    stations: list[str] | None = None,
    canary_percent: int = 5,
    wave_size: int = 50,
    window_start: time | None = None,
    window_end: time | None = None,
    max_concurrent: int = 20,
    failure_threshold_percent: int = 10,
    max_attempts: int = 3,
    retry_backoff_s: int = 300,
    station_timeout_s: int = 3600,
    created_by=None,
    start: bool = False,
) -> FirmwareCampaign:
    targets = resolve_targets(firmware=firmware, sites=sites, models=models, current_versions=current_versions,
                              stations=stations, window_start=window_start, window_end=window_end)
    campaign = FirmwareCampaign.objects.create(
        name=name, firmware=firmware,
        target={"sites": sites or [], "models": models or [], "current_versions": current_versions or [],
                "stations": stations or []},
        canary_percent=canary_percent, wave_size=wave_size, window_start=window_start, window_end=window_end,
        max_concurrent=max_concurrent, failure_threshold_percent=failure_threshold_percent,
        max_attempts=max_attempts, retry_backoff_s=retry_backoff_s, station_timeout_s=station_timeout_s,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    up_to_date = [s for s in targets if s.firmware_version == firmware.version]
    to_update = [s for s in targets if s.firmware_version != firmware.version]
    waves = plan_waves(to_update, canary_percent=canary_percent, wave_size=wave_size)
    members = [
        CampaignStation(campaign=campaign, station=station, wave=n, version_before=station.firmware_version)
        for n, wave in enumerate(waves) for station in wave
    ]
    members += [
        CampaignStation(campaign=campaign, station=station, wave=0, state=MemberState.SKIPPED,
                        version_before=station.firmware_version, error="already on this version",
                        finished_at=timezone.now())
        for station in up_to_date
    ]
    CampaignStation.objects.bulk_create(members)
    if start:
        _set_status(campaign, CampaignStatus.RUNNING)
    return campaign


def _locked(campaign_id: int) -> FirmwareCampaign:
    return FirmwareCampaign.objects.select_for_update().get(pk=campaign_id)


def _set_status(campaign: FirmwareCampaign, status: str, **fields) -> None:
    campaign.status = status
    if status == CampaignStatus.RUNNING and campaign.started_at is None:
        campaign.started_at = timezone.now()
    if status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        campaign.finished_at = timezone.now()
    for key, value in fields.items():
        setattr(campaign, key, value)
    campaign.save()


TRANSITIONS = {
    "start": ({CampaignStatus.DRAFT}, CampaignStatus.RUNNING),
    "pause": ({CampaignStatus.RUNNING}, CampaignStatus.PAUSED),
    "resume": ({CampaignStatus.PAUSED, CampaignStatus.HALTED}, CampaignStatus.RUNNING),
    "cancel": ({CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.HALTED},
               CampaignStatus.CANCELLED),
}


@transaction.atomic
def change_campaign(*, campaign_id: int, action: str) -> FirmwareCampaign:
    """start, pause, resume or cancel. Resuming a halted campaign accepts the failures so far:
    the threshold applies again from the next wave. Cancelling skips the stations not yet
    started; those in flight finish and are still tracked."""
    if action not in TRANSITIONS:
        raise CampaignError(f"unknown action {action!r}; one of {', '.join(TRANSITIONS)}")
    allowed, target = TRANSITIONS[action]
    campaign = _locked(campaign_id)
    if campaign.status not in allowed:
        raise CampaignError(f"cannot {action} a campaign that is {campaign.status}")
    fields = {}
    if action == "resume" and campaign.status == CampaignStatus.HALTED:
        fields = {"threshold_from_wave": campaign.current_wave + 1, "halted_reason": ""}
    if action == "cancel":
        campaign.members.filter(state=MemberState.SCHEDULED).update(
            state=MemberState.SKIPPED, error="campaign cancelled", waiting_reason="", finished_at=timezone.now()
        )
    _set_status(campaign, target, **fields)
    return campaign


# --- the tick -----------------------------------------------------------------------------


def _attempt_failed(member: CampaignStation, *, error: str, now: datetime) -> None:
    member.error = error[:255]
    member.progress_at = now
    if member.attempts >= member.campaign.max_attempts:
        member.state = MemberState.FAILED
        member.finished_at = now
    else:
        member.state = MemberState.SCHEDULED
        member.next_attempt_at = now + retry_delay(attempts=member.attempts, backoff_s=member.campaign.retry_backoff_s)
    member.save()


def _expire_silent(campaign: FirmwareCampaign, now: datetime) -> int:
    cutoff = now - timedelta(seconds=campaign.station_timeout_s)
    silent = campaign.members.select_related("campaign").filter(state__in=IN_FLIGHT_STATES, progress_at__lt=cutoff)
    count = 0
    for member in silent:
        _attempt_failed(member, error=f"no report from the station for {campaign.station_timeout_s} s", now=now)
        count += 1
    return count


def _settle_waves(campaign: FirmwareCampaign) -> bool:
    """Halt or complete the campaign, or move to the next wave; True while it may go on."""
    last_wave = campaign.members.order_by("-wave").values_list("wave", flat=True).first()
    while True:
        # Skipped stations were never tried: they neither fail a wave nor hold it up.
        counts = campaign.members.filter(wave=campaign.current_wave).exclude(state=MemberState.SKIPPED).aggregate(
            total=Count("pk"),
            failed=Count("pk", filter=Q(state=MemberState.FAILED)),
            done=Count("pk", filter=Q(state__in=FINAL_STATES)),
        )
        total, failed = counts["total"], counts["failed"]
        if (campaign.current_wave >= campaign.threshold_from_wave and total
                and failed * 100 > campaign.failure_threshold_percent * total):
            _set_status(campaign, CampaignStatus.HALTED, halted_reason=(
                f"wave {campaign.current_wave}: {failed} of {total} stations failed "
                f"(more than {campaign.failure_threshold_percent}%)"
            ))
            return False
        if counts["done"] < total:
            return True
        if last_wave is None or campaign.current_wave >= last_wave:
            _set_status(campaign, CampaignStatus.COMPLETED)
            return False
        campaign.current_wave += 1
        campaign.save(update_fields=["current_wave"])


def _candidates(campaign: FirmwareCampaign, now: datetime) -> tuple[list[Candidate], list[CampaignStation]]:
    members = list(
        campaign.members.select_related("station__site")
        .filter(wave=campaign.current_wave, state=MemberState.SCHEDULED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("attempts", "pk")
    )
    station_ids = [m.station_id for m in members]
    charging = set(ChargingSession.objects.filter(station_id__in=station_ids, status=SessionStatus.ACTIVE)
                   .values_list("station_id", flat=True))
    busy = set(CampaignStation.objects.filter(station_id__in=station_ids, state__in=IN_FLIGHT_STATES)
               .values_list("station_id", flat=True))
    candidates = [
        Candidate(
            member_id=m.pk,
            online=m.station.is_online,
            charging=m.station_id in charging,
            in_window=in_window(now=now, time_zone=m.station.site.time_zone if m.station.site else "UTC",
                                start=campaign.window_start, end=campaign.window_end),
            busy_elsewhere=m.station_id in busy,
        )
        for m in members
    ]
    return candidates, members


@transaction.atomic
def advance_campaign(*, campaign_id: int, now: datetime | None = None) -> list[int]:
    """One tick of one campaign. Returns the members claimed (state ``sending``): the caller
    sends each its UpdateFirmware once this transaction has committed."""
    now = now or timezone.now()
    campaign = _locked(campaign_id)
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.COMPLETED):
        return []
    _expire_silent(campaign, now)
    if campaign.status != CampaignStatus.RUNNING or not _settle_waves(campaign):
        return []
    candidates, members = _candidates(campaign, now)
    in_flight = campaign.members.filter(state__in=IN_FLIGHT_STATES).count()
    chosen, waiting = pick(candidates, in_flight=in_flight, max_concurrent=campaign.max_concurrent)
    for reason in set(waiting.values()):
        CampaignStation.objects.filter(pk__in=[k for k, v in waiting.items() if v == reason]).update(
            waiting_reason=reason
        )
    target = campaign.firmware.version
    by_pk = {m.pk: m for m in members}
    claimed = []
    for member_id in chosen:
        if by_pk[member_id].station.firmware_version == target:
            CampaignStation.objects.filter(pk=member_id, state=MemberState.SCHEDULED).update(
                state=MemberState.SKIPPED, error="already on this version", finished_at=now, waiting_reason=""
            )
            continue
        try:
            with transaction.atomic():
                won = CampaignStation.objects.filter(pk=member_id, state=MemberState.SCHEDULED).update(
                    state=MemberState.SENDING, attempts=F("attempts") + 1, progress_at=now, waiting_reason="",
                    request_id=random.randint(1, 2**31 - 1), station_status="", next_attempt_at=None,
                )
        except IntegrityError:  # another campaign's update took the station meanwhile
            continue
        if won:
            claimed.append(member_id)
    return claimed


def campaigns_to_tick() -> list[int]:
    """Running campaigns, and stopped ones with stations still in flight (their timeouts)."""
    return list(
        FirmwareCampaign.objects.filter(
            Q(status=CampaignStatus.RUNNING)
            | Q(status__in=[CampaignStatus.PAUSED, CampaignStatus.HALTED, CampaignStatus.CANCELLED],
                members__state__in=IN_FLIGHT_STATES)
        ).distinct().values_list("pk", flat=True)
    )


# --- sending and what stations report --------------------------------------------------------


def send_update(*, member_id: int) -> str:
    """Send a claimed station its UpdateFirmware and record how it answered. Idempotent:
    a member no longer ``sending`` (a redelivered task) is left alone."""
    from stations.commands.service import send_command
    from stations.firmware.catalog import download_url

    member = CampaignStation.objects.select_related("campaign__firmware", "station").filter(
        pk=member_id, state=MemberState.SENDING
    ).first()
    if member is None:
        return "not claimed"
    firmware = member.campaign.firmware
    params = {"location": download_url(firmware), "retrieve_at": timezone.now(), "request_id": member.request_id}
    if firmware.is_signed:
        params.update(signing_certificate=firmware.signing_certificate, signature=firmware.signature)
    try:
        result = send_command(station_id=member.station.station_id, command="update_firmware", params=params,
                              source="campaign")
        outcome, error = result.outcome, result.error or (result.status or result.outcome)
    except Exception as exc:  # a bad command must not leave the station claimed for ever
        logger.exception("firmware update of %s could not be sent", member.station.station_id)
        outcome, error = "error", str(exc)
    record_dispatch(member_id=member_id, accepted=outcome == "accepted", error=error)
    return outcome


@transaction.atomic
def record_dispatch(*, member_id: int, accepted: bool, error: str = "") -> None:
    member = CampaignStation.objects.select_for_update().select_related("campaign").get(pk=member_id)
    if member.state != MemberState.SENDING:  # the station already reported progress
        return
    now = timezone.now()
    if accepted:
        member.state = MemberState.DOWNLOADING
        member.progress_at = now
        member.save(update_fields=["state", "progress_at"])
    else:
        _attempt_failed(member, error=f"UpdateFirmware: {error}", now=now)


FAILED_STATUSES = {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
DOWNLOAD_STATUSES = {"Downloading", "Downloaded", "DownloadScheduled", "DownloadPaused", "SignatureVerified"}
INSTALL_STATUSES = {"Installing", "InstallScheduled", "Installed", "InstallRebooting"}


def stations_with_update_in_flight(station_pks: list[int]) -> set[int]:
    """Which of the stations have a campaign update in flight (whose next boot confirms it)."""
    return set(CampaignStation.objects.filter(station_id__in=station_pks, state__in=IN_FLIGHT_STATES)
               .values_list("station_id", flat=True))


def _in_flight_member(station_pk: int) -> CampaignStation | None:
    return (CampaignStation.objects.select_for_update().select_related("campaign__firmware")
            .filter(station_id=station_pk, state__in=IN_FLIGHT_STATES).first())


@transaction.atomic
def record_firmware_status(*, station_pk: int, status: str, request_id: int | None = None) -> None:
    """A FirmwareStatusNotification (1.6 or 2.0.1): the station's firmware status, and the
    step of its campaign update. A 2.0.1 report for another requestId leaves the campaign alone."""
    now = timezone.now()
    ChargingStation.objects.filter(pk=station_pk).update(firmware_status=status[:40], firmware_status_at=now)
    member = _in_flight_member(station_pk)
    if member is None or (request_id is not None and member.request_id not in (None, request_id)):
        return
    member.station_status = status[:40]
    member.progress_at = now
    if status in FAILED_STATUSES:
        _attempt_failed(member, error=f"station reported {status}", now=now)
        return
    if status in INSTALL_STATUSES:
        member.state = MemberState.INSTALLING
    elif status in DOWNLOAD_STATUSES and member.state != MemberState.INSTALLING:
        member.state = MemberState.DOWNLOADING
    member.save(update_fields=["state", "station_status", "progress_at"])


@transaction.atomic
def record_boot_version(*, station_pk: int, firmware_version: str) -> None:
    """The next BootNotification confirms an update: the new version means installed; an
    installing station that comes back with another version has failed this attempt.
    Part of the boot's transaction when called from it."""
    member = _in_flight_member(station_pk)
    if member is None:
        return
    now = timezone.now()
    member.reported_version = firmware_version[:50]
    if firmware_version == member.campaign.firmware.version:
        member.state = MemberState.INSTALLED
        member.finished_at = member.progress_at = now
        member.error = ""
        member.save()
    elif member.state == MemberState.INSTALLING:
        _attempt_failed(member, error=f"booted with {firmware_version or 'no version'}, "
                                      f"expected {member.campaign.firmware.version}", now=now)
    else:
        member.save(update_fields=["reported_version"])


# --- reading -----------------------------------------------------------------------------

PROGRESS_BUCKETS = {
    MemberState.SCHEDULED: "scheduled",
    MemberState.SENDING: "downloading",
    MemberState.DOWNLOADING: "downloading",
    MemberState.INSTALLING: "installing",
    MemberState.INSTALLED: "installed",
    MemberState.FAILED: "failed",
    MemberState.SKIPPED: "skipped",
}


def progress(campaign: FirmwareCampaign) -> dict[str, int]:
    """Stations per state as the progress bar shows them, and the total."""
    counts = dict.fromkeys(["scheduled", "downloading", "installing", "installed", "failed", "skipped"], 0)
    for row in campaign.members.values("state").annotate(n=Count("pk")):
        counts[PROGRESS_BUCKETS[row["state"]]] += row["n"]
    counts["total"] = sum(counts.values())
    return counts
