"""`seed_demo` gives every portal a login to look around with."""

import pytest
from django.core.management import call_command
from django.test import Client

from stations.management.commands.simulate import fleet_members
from stations.models import IdToken

pytestmark = pytest.mark.django_db


def logged_in(username: str, password: str) -> Client:
    client = Client()
    assert client.login(username=username, password=password), username
    return client


def test_demo_logins_reach_their_portals(capsys):
    call_command("seed_demo")
    call_command("seed_demo")  # again: nothing doubles, nothing breaks

    driver = logged_in("driver", "driver")
    assert driver.get("/portal/").status_code == 200
    assert driver.get("/admin/").status_code == 302
    card = IdToken.objects.get(value=fleet_members("DEMO-", 4)[0].id_token)
    assert card.driver.user.username == "driver"  # the simulator charges DEMO-01 with this card

    finance = logged_in("finance", "finance")
    assert finance.get("/admin/billing/invoice/").status_code == 200
    assert finance.get("/admin/stations/chargingstation/").status_code == 403

    owner = logged_in("owner", "owner")
    dashboard = owner.get("/admin/dashboard/")
    assert dashboard.status_code == 200 and 'data-station="DEMO-01"' in dashboard.text
