"""Two organisations, each with a site, a station and a driver's session, and one user per role."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User

from chargenet.roles import FINANCE_GROUP
from stations.models import ChargingSession, Driver, Evse, IdToken, Organization, Site


@dataclass
class Network:
    operator: User
    owner_a: User
    owner_b: User
    finance: User
    driver_a: User
    driver_b: User
    site_a: Site
    site_b: Site
    station_a: object
    station_b: object
    session_a: ChargingSession
    session_b: ChargingSession
    token_a: IdToken
    token_b: IdToken


def make_driver(username: str) -> tuple[User, Driver]:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-" + username)
    return user, Driver.objects.create(user=user, email=f"{username}@example.com", name=username.title())


def make_session(station, driver, token, transaction_id: str, energy_wh: int = 5000) -> ChargingSession:
    evse, _ = Evse.objects.get_or_create(station=station, evse_id=1)
    return ChargingSession.objects.create(
        station=station, evse=evse, transaction_id=transaction_id, id_token=token, id_token_value=token.value,
        driver=driver, status="Completed", started_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        stopped_at=datetime(2026, 11, 2, 11, tzinfo=UTC), meter_start_wh=0, meter_stop_wh=energy_wh,
        energy_wh=energy_wh,
    )


@pytest.fixture
def network(db, make_station) -> Network:
    org_a = Organization.objects.create(name="Org A")
    org_b = Organization.objects.create(name="Org B")
    owner_a = User.objects.create_user("owner-a", "a@example.com", "pw-owner-a")
    owner_b = User.objects.create_user("owner-b", "b@example.com", "pw-owner-b")
    org_a.members.add(owner_a)
    org_b.members.add(owner_b)
    site_a = Site.objects.create(organization=org_a, name="Site A", city="Aachen")
    site_b = Site.objects.create(organization=org_b, name="Site B", city="Bremen")
    station_a = make_station("CP-A", site=site_a)
    station_b = make_station("CP-B", site=site_b)
    finance = User.objects.create_user("fin", "fin@example.com", "pw-fin")
    finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    driver_a_user, driver_a = make_driver("driver-a")
    driver_b_user, driver_b = make_driver("driver-b")
    token_a = IdToken.objects.create(value="TOKEN-A", driver=driver_a)
    token_b = IdToken.objects.create(value="TOKEN-B", driver=driver_b)
    return Network(
        operator=User.objects.create_superuser("ops", "ops@example.com", "pw-ops"),
        owner_a=owner_a, owner_b=owner_b, finance=finance, driver_a=driver_a_user, driver_b=driver_b_user,
        site_a=site_a, site_b=site_b, station_a=station_a, station_b=station_b,
        session_a=make_session(station_a, driver_a, token_a, "1"),
        session_b=make_session(station_b, driver_b, token_b, "2"),
        token_a=token_a, token_b=token_b,
    )
