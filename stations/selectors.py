"""Who may see and change what. Every view, admin page and API endpoint goes through here.

Operators (superusers and the Operators group) run the whole network; a site owner sees
and manages the sites of the organisations they belong to; a driver sees only their own
sessions and tokens.
"""

from django.db.models import Prefetch, Q, QuerySet

from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    CommandLog,
    Connector,
    Driver,
    Evse,
    IdToken,
    Organization,
    Site,
)

OPERATORS_GROUP = "Operators"


def is_operator(user) -> bool:
    if not user or not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=OPERATORS_GROUP).exists()


def organizations_of(user) -> QuerySet[Organization]:
    if not user or not user.is_authenticated:
        return Organization.objects.none()
    if is_operator(user):
        return Organization.objects.all()
    return Organization.objects.filter(members=user)


def is_site_owner(user) -> bool:
    return bool(user and user.is_authenticated and Organization.objects.filter(members=user).exists())


def sites_visible_to(user) -> QuerySet[Site]:
    sites = Site.objects.select_related("organization")
    if is_operator(user):
        return sites
    if not user or not user.is_authenticated:
        return sites.none()
    return sites.filter(organization__members=user)


def stations_visible_to(user) -> QuerySet[ChargingStation]:
    stations = ChargingStation.objects.select_related("site").prefetch_related(
        Prefetch("evses", queryset=Evse.objects.order_by("evse_id").prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
        ))
    )
    if is_operator(user):
        return stations
    if not user or not user.is_authenticated:
        return stations.none()
    return stations.filter(site__organization__members=user)


def evses_visible_to(user) -> QuerySet[Evse]:
    return Evse.objects.filter(station__in=stations_visible_to(user).values("pk")).select_related(
        "station"
    ).prefetch_related("connectors")


def sessions_visible_to(user) -> QuerySet[ChargingSession]:
    sessions = ChargingSession.objects.select_related("station", "evse", "connector", "id_token", "cdr",
                                                      "tariff_snapshot")
    if is_operator(user):
        return sessions
    if not user or not user.is_authenticated:
        return sessions.none()
    scope = Q(station__site__organization__members=user)
    driver = getattr(user, "driver", None)
    if driver is not None:
        scope |= Q(driver=driver)
    return sessions.filter(scope).distinct()


def id_tokens_visible_to(user) -> QuerySet[IdToken]:
    tokens = IdToken.objects.select_related("driver")
    if is_operator(user):
        return tokens
    driver = getattr(user, "driver", None) if user and user.is_authenticated else None
    if driver is None:
        return tokens.none()
    return tokens.filter(driver=driver)


def cars_visible_to(user) -> QuerySet[Car]:
    """Operators: every car; a driver: their own; anyone else: none."""
    cars = Car.objects.select_related("driver")
    if is_operator(user):
        return cars
    driver = getattr(user, "driver", None) if user and user.is_authenticated else None
    return cars.filter(driver=driver) if driver is not None else cars.none()


def drivers_visible_to(user) -> QuerySet[Driver]:
    if is_operator(user):
        return Driver.objects.all()
    driver = getattr(user, "driver", None) if user and user.is_authenticated else None
    return Driver.objects.filter(pk=driver.pk) if driver is not None else Driver.objects.none()


def command_logs_visible_to(user) -> QuerySet[CommandLog]:
    logs = CommandLog.objects.select_related("station", "requested_by")
    if is_operator(user):
        return logs
    if not user or not user.is_authenticated:
        return logs.none()
    return logs.filter(station__site__organization__members=user)


def can_manage_station(user, station: ChargingStation) -> bool:
    """Change it, approve it, send it commands."""
    if is_operator(user):
        return True
    return bool(station.site_id and station.site.organization_id
                and organizations_of(user).filter(pk=station.site.organization_id).exists())


def station_live_state(station: ChargingStation) -> dict:
    """What the station page shows live (it polls this): connection, connectors, and each
    session in progress with its energy and latest power. Three small queries."""
    from django.db.models import OuterRef, Subquery

    from stations.models import Measurand, MeterSample, Phase, SessionStatus

    station.refresh_from_db(fields=["is_online", "last_seen"])
    latest_power = MeterSample.objects.filter(
        session=OuterRef("pk"), phase=Phase.NONE, measurand=Measurand.POWER_ACTIVE_IMPORT,
    ).order_by("-timestamp").values("value")[:1]
    sessions = station.sessions.filter(status=SessionStatus.ACTIVE).select_related("evse").annotate(
        power_w=Subquery(latest_power)).order_by("started_at")
    return {
        "online": station.is_online,
        "last_seen": station.last_seen.isoformat() if station.last_seen else None,
        "connectors": [
            {"evse": c.evse.evse_id, "connector": c.connector_id, "status": c.status, "error_code": c.error_code}
            for c in Connector.objects.filter(evse__station=station).select_related("evse").order_by(
                "evse__evse_id", "connector_id")
        ],
        "sessions": [
            {"evse": s.evse.evse_id if s.evse else None, "transaction_id": s.transaction_id,
             "id_token": s.id_token_value, "energy_wh": s.energy_wh, "power_w": s.power_w,
             "energy_exported_wh": s.energy_exported_wh, "soc_percent": s.soc_percent,
             "operation_mode": s.operation_mode}
            for s in sessions
        ],
    }


def site_power_shares(site: Site) -> list[dict]:
    """Each session charging at the site now, with its latest power (drawn minus fed back:
    a discharging car shows below zero) and its share of what the site's cars draw, largest
    first (the site power page's table)."""
    from django.db.models import OuterRef, Subquery

    from stations.models import Measurand, MeterSample, Phase, SessionStatus

    def latest(measurand):
        return Subquery(MeterSample.objects.filter(
            session=OuterRef("pk"), phase=Phase.NONE, measurand=measurand,
        ).order_by("-timestamp").values("value")[:1])

    sessions = list(ChargingSession.objects.filter(station__site=site, status=SessionStatus.ACTIVE)
                    .select_related("station", "evse")
                    .annotate(drawn_w=latest(Measurand.POWER_ACTIVE_IMPORT),
                              fed_w=latest(Measurand.POWER_ACTIVE_EXPORT)))
    total = sum(s.drawn_w or 0 for s in sessions)
    rows = []
    for s in sessions:
        power_w = (s.drawn_w or 0) - (s.fed_w or 0)
        rows.append({
            "station": s.station.station_id, "evse": s.evse.evse_id if s.evse else None,
            "transaction_id": s.transaction_id, "energy_kwh": f"{s.energy_wh / 1000:.2f}",
            "exported_kwh": f"{s.energy_exported_wh / 1000:.2f}",
            "soc": None if s.soc_percent is None else f"{s.soc_percent:g} %",
            "operation_mode": s.operation_mode,
            "power_w": power_w, "power_kw": f"{power_w / 1000:.1f}",
            "share_percent": round(100 * max(power_w, 0) / total, 1) if total else 0.0,
        })
    return sorted(rows, key=lambda row: -row["power_w"])
