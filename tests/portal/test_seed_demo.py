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


def test_demo_has_last_month_invoiced_for_finance_and_drivers():
    from billing.invoicing import previous_period
    from billing.models import ChargeDetailRecord, Invoice

    call_command("seed_demo")
    call_command("seed_demo")  # again: no second invoice, no second CDR
    period = previous_period()
    invoices = Invoice.objects.filter(period=period, kind="invoice")
    drivers_with_cards = {"alice@example.com", "bob@example.com", fleet_members("DEMO-", 4)[0].driver_email}
    assert set(invoices.values_list("customer_email", flat=True)) == drivers_with_cards
    assert invoices.count() == 3 and all(invoice.total_incl_vat > 0 for invoice in invoices)
    assert ChargeDetailRecord.objects.filter(session__transaction_id__startswith=f"HIST-{period}").count() == 12

    finance = logged_in("finance", "finance")
    listing = finance.get("/admin/billing/invoice/")
    assert all(invoice.number in listing.text for invoice in invoices)
    driver_invoice = invoices.get(driver__user__username="driver")
    page = logged_in("driver", "driver").get("/portal/invoices/")
    assert driver_invoice.number in page.text


def test_the_readmes_command_examples_use_cards_and_stations_of_the_demo():
    import re
    from pathlib import Path

    from stations.models import ChargingStation

    call_command("seed_demo")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Remote operations"):readme.index("## Smart charging")]
    cards = re.findall(r'"id_token": "([^"]+)"', section)
    stations = set(re.findall(r"\b(DEMO-\d\d)\b", section))
    assert cards and stations
    assert set(cards) <= set(IdToken.objects.values_list("value", flat=True))
    assert stations <= set(ChargingStation.objects.values_list("station_id", flat=True))
