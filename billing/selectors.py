"""Who may see and change tariffs, tariff assignments and CDRs.

Tariffs are public price lists (OCPI publishes them to every roaming partner), so every
signed-in user reads all of them. Operators change any tariff; a site owner changes the
tariffs of their organisations and assigns those, or network-wide ones, to their own sites,
stations and EVSEs. CDRs: operators and the Finance group read all, site owners those of
their sites, drivers their own.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from billing.models import ChargeDetailRecord, Tariff, TariffAssignment
from stations.models import ChargingStation, Evse, Organization, Site
from stations.selectors import can_manage_station, is_operator, organizations_of

FINANCE_GROUP = "Finance"


def is_finance(user) -> bool:
    return bool(user and user.is_authenticated and user.groups.filter(name=FINANCE_GROUP).exists())


def tariffs_visible_to(user) -> QuerySet[Tariff]:
    if not user or not user.is_authenticated:
        return Tariff.objects.none()
    return Tariff.objects.select_related("organization")


def find_tariff(tariff_id: str) -> Tariff | None:
    """The tariff with this OCPI id (OCPI ids compare case-insensitively)."""
    return Tariff.objects.filter(tariff_id__iexact=tariff_id).first()


def can_manage_tariff(user, tariff: Tariff) -> bool:
    if is_operator(user):
        return True
    return bool(tariff.organization_id and organizations_of(user).filter(pk=tariff.organization_id).exists())


def organization_of_place(place: Site | ChargingStation | Evse) -> Organization | None:
    """The organisation owning a site, a station or an EVSE (None: an operator's own place)."""
    if isinstance(place, Evse):
        place = place.station
    if isinstance(place, ChargingStation):
        place = place.site
    return place.organization if place is not None else None


def can_manage_place(user, place: Site | ChargingStation | Evse) -> bool:
    if is_operator(user):
        return True
    if isinstance(place, Evse):
        place = place.station
    if isinstance(place, ChargingStation):
        return can_manage_station(user, place)
    return bool(place.organization_id and organizations_of(user).filter(pk=place.organization_id).exists())


def tariff_assignments_visible_to(user) -> QuerySet[TariffAssignment]:
    assignments = TariffAssignment.objects.select_related(
        "tariff", "site", "station", "evse__station", "driver_group"
    ).order_by("id")
    if is_operator(user):
        return assignments
    if not user or not user.is_authenticated:
        return assignments.none()
    return assignments.filter(
        Q(site__organization__members=user)
        | Q(station__site__organization__members=user)
        | Q(evse__station__site__organization__members=user)
    ).distinct()


def public_tariff_ids(places: Iterable[Site | ChargingStation]) -> dict[int, str]:
    """{place pk: OCPI id of the tariff assigned there for everyone} in one query; places of
    one kind (all sites or all stations)."""
    places = list(places)
    if not places:
        return {}
    field = "site_id" if isinstance(places[0], Site) else "station_id"
    rows = TariffAssignment.objects.filter(
        **{f"{field}__in": [place.pk for place in places]}, driver_group__isnull=True
    ).values_list(field, "tariff__tariff_id")
    return dict(rows)


def cdrs_visible_to(user) -> QuerySet[ChargeDetailRecord]:
    cdrs = ChargeDetailRecord.objects.select_related("driver", "session").prefetch_related("vat_lines")
    if is_operator(user) or is_finance(user):
        return cdrs
    if not user or not user.is_authenticated:
        return cdrs.none()
    scope = Q(session__station__site__organization__members=user)
    driver = getattr(user, "driver", None)
    if driver is not None:
        scope |= Q(driver=driver)
    return cdrs.filter(scope).distinct()
