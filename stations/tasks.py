"""Celery tasks of the stations app. Eager without REDIS_URL; with it, run by any worker."""

from celery import shared_task


@shared_task(name="stations.advance_firmware_campaigns")
def advance_firmware_campaigns() -> int:
    """Celery beat's tick: advance every campaign that has something to do."""
    from stations.firmware.rollout import campaigns_to_tick

    campaign_ids = campaigns_to_tick()
    for campaign_id in campaign_ids:
        advance_firmware_campaign.delay(campaign_id)
    return len(campaign_ids)


@shared_task(name="stations.advance_firmware_campaign")
def advance_firmware_campaign(campaign_id: int) -> list[int]:
    """One campaign's tick; the stations it claims get their UpdateFirmware from any worker."""
    from stations.firmware.rollout import advance_campaign

    claimed = advance_campaign(campaign_id=campaign_id)
    for member_id in claimed:
        send_firmware_update.delay(member_id)
    return claimed


@shared_task(name="stations.send_firmware_update")
def send_firmware_update(member_id: int) -> str:
    from stations.firmware.rollout import send_update

    return send_update(member_id=member_id)


@shared_task(name="stations.request_diagnostics")
def request_diagnostics(station_pk: int, log_type: str = "DiagnosticsLog", user_id: int | None = None) -> int:
    """The admin's one-click diagnostics, off the request thread when a worker runs."""
    from django.contrib.auth import get_user_model

    from stations.firmware.diagnostics import request_diagnostics as request
    from stations.models import ChargingStation

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    station = ChargingStation.objects.get(pk=station_pk)
    return request(station=station, log_type=log_type, requested_by=user).pk
