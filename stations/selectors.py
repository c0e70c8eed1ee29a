"""Who may see what. Every view, admin page and API endpoint reads through here.

Operators (staff) see the whole network; a site owner sees the sites of the
organisations they belong to; a driver sees only their own sessions.
"""

from django.db.models import Prefetch, QuerySet

from stations.models import ChargingSession, ChargingStation, Connector, Evse


OPERATORS_GROUP = "Operators"


def is_operator(user) -> bool:
    """Superusers and members of the Operators group run the whole network."""
    if not user or not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=OPERATORS_GROUP).exists()


def stations_visible_to(user) -> QuerySet[ChargingStation]:
    stations = ChargingStation.objects.select_related("site").prefetch_related(
        Prefetch("evses", queryset=Evse.objects.order_by("evse_id").prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
        ))
    )
    if not user or not user.is_authenticated:
        return stations.none()
    if is_operator(user):
        return stations
    return stations.filter(site__organization__members=user)


def sessions_visible_to(user) -> QuerySet[ChargingSession]:
    sessions = ChargingSession.objects.select_related("station", "evse", "connector", "id_token")
    if not user or not user.is_authenticated:
        return sessions.none()
    if is_operator(user):
        return sessions
    owned = sessions.filter(station__site__organization__members=user)
    driver = getattr(user, "driver", None)
    if driver is not None:
        return (owned | sessions.filter(driver=driver)).distinct()
    return owned
