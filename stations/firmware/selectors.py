"""Who sees which firmware campaigns and diagnostics: operators everything, site owners what
touches their stations (through ``stations.selectors``), drivers nothing."""

from django.db.models import QuerySet

from stations.firmware.models import CampaignStation, DiagnosticsRequest, FirmwareCampaign, FirmwareImage
from stations.selectors import is_operator, is_site_owner, stations_visible_to


def firmware_visible_to(user) -> QuerySet[FirmwareImage]:
    if is_operator(user) or is_site_owner(user):
        return FirmwareImage.objects.all()
    return FirmwareImage.objects.none()


def campaigns_visible_to(user) -> QuerySet[FirmwareCampaign]:
    campaigns = FirmwareCampaign.objects.select_related("firmware")
    if is_operator(user):
        return campaigns
    return campaigns.filter(members__station__in=stations_visible_to(user).values("pk")).distinct()


def campaign_members_visible_to(user, campaign: FirmwareCampaign) -> QuerySet[CampaignStation]:
    members = campaign.members.select_related("station")
    if is_operator(user):
        return members
    return members.filter(station__in=stations_visible_to(user).values("pk"))


def diagnostics_visible_to(user) -> QuerySet[DiagnosticsRequest]:
    requests = DiagnosticsRequest.objects.select_related("station", "requested_by")
    if is_operator(user):
        return requests
    return requests.filter(station__in=stations_visible_to(user).values("pk"))
