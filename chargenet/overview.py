"""The console's overview: the network's figures and what needs someone now, for the top of
the admin index and the live dashboard.

Every figure counts only rows the user may see (``chargenet.roles.scope``), optionally
narrowed to one site or organisation; every alert links to the changelist that lists its
rows, and only when the user may open that list (otherwise it is plain text). A handful of
aggregate queries, whatever the size of the network.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from chargenet import roles


@dataclass
class Alert:
    label: str
    count: int
    url: str | None  # None: the user may not open the list


@dataclass
class Figure:
    label: str
    value: str
    url: str | None = None
    key: str = ""


@dataclass
class Overview:
    figures: list[Figure] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    sites: list[tuple[int, str]] = field(default_factory=list)
    organizations: list[tuple[int, str]] = field(default_factory=list)
    site_id: int | None = None
    organization_id: int | None = None


def _changelist(request, admin_site, model, query: str = "") -> str | None:
    model_admin = admin_site._registry.get(model)
    if model_admin is None or not model_admin.has_view_permission(request):
        return None
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{query}" if query else url


def _add(url: str | None, query: str) -> str | None:
    if url is None:
        return None
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def overview_for(request, admin_site) -> Overview:
    from billing.models import ChargeDetailRecord
    from pki.models import Certificate
    from roaming.models import OutboxEntry, OutboxStatus
    from stations.firmware.models import CampaignStatus, FirmwareCampaign
    from stations.models import (
        ChargingSession,
        ChargingStation,
        Connector,
        ConnectorStatus,
        Measurand,
        MeterSample,
        Organization,
        Phase,
        SessionStatus,
        Site,
    )

    user = request.user
    result = Overview()
    sites = roles.scope(user, Site.objects.order_by("name"))
    organizations = roles.scope(user, Organization.objects.order_by("name"))
    result.sites = list(sites.values_list("pk", "name"))
    result.organizations = list(organizations.values_list("pk", "name"))
    result.site_id = _int(request.GET.get("site")) if _int(request.GET.get("site")) in dict(result.sites) else None
    result.organization_id = (_int(request.GET.get("organization"))
                              if _int(request.GET.get("organization")) in dict(result.organizations) else None)

    place = Q()
    place_query = ""
    if result.site_id:
        place &= Q(site_id=result.site_id)
        place_query = f"site__id__exact={result.site_id}"
    if result.organization_id:
        place &= Q(site__organization_id=result.organization_id)
    stations = roles.scope(user, ChargingStation.objects.all()).filter(place)
    now = timezone.localtime()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)

    if roles.may(user, ChargingStation, roles.VIEW):
        faulted_q = Q(status=ConnectorStatus.FAULTED) | Q(evses__connectors__status=ConnectorStatus.FAULTED)
        counts = stations.aggregate(
            online=Count("pk", filter=Q(is_online=True), distinct=True),
            offline=Count("pk", filter=Q(is_online=False), distinct=True),
            faulted=Count("pk", filter=faulted_q, distinct=True),
        )
        charging = Connector.objects.filter(evse__station__in=stations, status=ConnectorStatus.CHARGING).count()
        active = ChargingSession.objects.filter(station__in=stations, status=SessionStatus.ACTIVE)
        latest_power = MeterSample.objects.filter(
            session=OuterRef("pk"), phase=Phase.NONE, measurand=Measurand.POWER_ACTIVE_IMPORT,
        ).order_by("-timestamp").values("value")[:1]
        power_w = sum(v or 0 for v in active.annotate(p=Subquery(latest_power)).values_list("p", flat=True))
        today = ChargingSession.objects.filter(station__in=stations, started_at__gte=day_start).aggregate(
            sessions=Count("pk"), energy=Sum("energy_wh"))
        stations_url = _changelist(request, admin_site, ChargingStation, place_query)
        result.figures += [
            Figure("Stations online", str(counts["online"]),
                   _add(stations_url, "health=online"), "online"),
            Figure("Offline", str(counts["offline"]), _add(stations_url, "health=offline"),
                   "offline"),
            Figure("Faulted", str(counts["faulted"]), _add(stations_url, "health=faulted"),
                   "faulted"),
            Figure("Connectors charging", str(charging), None, "charging"),
            Figure("Power now", f"{power_w / 1000:.1f} kW", None, "power"),
            Figure("Energy today", f"{(today['energy'] or 0) / 1000:.1f} kWh", None, "energy-today"),
            Figure("Sessions today", str(today["sessions"]),
                   _changelist(request, admin_site, ChargingSession,
                               urlencode({"started_at__gte": day_start.isoformat()})), "sessions-today"),
        ]
        if counts["faulted"]:
            result.alerts.append(Alert(f"{counts['faulted']} faulted station(s)", counts["faulted"],
                                       _add(stations_url, "health=faulted")))

    if roles.may(user, ChargeDetailRecord, roles.VIEW):
        cdrs = roles.scope(user, ChargeDetailRecord.objects.all()).filter(end_date_time__gte=month_start)
        if result.site_id or result.organization_id:
            cdrs = cdrs.filter(session__station__in=stations)
        revenue = cdrs.values("currency").annotate(total=Sum("total_cost_incl_vat")).order_by("currency")
        text = ", ".join(f"{row['total'] or Decimal('0')} {row['currency']}" for row in revenue) or "0.00"
        result.figures.append(Figure("Revenue this month", text, _changelist(
            request, admin_site, ChargeDetailRecord, urlencode({"end_date_time__gte": month_start.isoformat()})), "revenue"))

    if roles.may(user, FirmwareCampaign, roles.VIEW):
        halted = FirmwareCampaign.objects.filter(status=CampaignStatus.HALTED).count()
        if halted:
            result.alerts.append(Alert(f"{halted} firmware campaign(s) halted by failures", halted,
                                       _changelist(request, admin_site, FirmwareCampaign, "status__exact=halted")))
    if roles.may(user, Certificate, roles.VIEW):
        window = now + timedelta(days=settings.PKI_RENEWAL_WINDOW_DAYS)
        expiring = Certificate.objects.filter(not_after__gt=now, not_after__lte=window, revoked_at__isnull=True)
        count = expiring.count()
        if count:
            result.alerts.append(Alert(
                f"{count} certificate(s) expiring within {settings.PKI_RENEWAL_WINDOW_DAYS} days", count,
                _changelist(request, admin_site, Certificate, "expiry=soon")))
    if roles.may(user, OutboxEntry, roles.VIEW):
        undelivered = OutboxEntry.objects.exclude(status=OutboxStatus.SENT).count()
        if undelivered:
            result.alerts.append(Alert(f"{undelivered} roaming message(s) not delivered", undelivered, _changelist(
                request, admin_site, OutboxEntry, f"status__in={OutboxStatus.PENDING},{OutboxStatus.FAILED}")))
    return result
