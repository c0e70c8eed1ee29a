"""Finance's "Export month": a month's invoices as CSV named for the month; bad months are
a form error, and only those who may see invoices get them."""

import pytest
from django.core.management import call_command
from django.test import Client

from billing.invoicing import previous_period

pytestmark = pytest.mark.django_db


def logged_in(username):
    client = Client()
    assert client.login(username=username, password=username)
    return client


def test_export_month_names_the_file_for_the_month_and_refuses_bad_input():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    period = previous_period()
    finance = logged_in("finance")
    response = finance.get(f"/admin/billing/invoice/export-month/?period={period}&what=invoices")
    assert response["Content-Disposition"] == f'attachment; filename="invoices-{period}.csv"'
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 1 + 3
    bad = finance.get("/admin/billing/invoice/export-month/?period=2026-13&what=invoices")
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert logged_in("owner").get("/admin/billing/invoice/export-month/").status_code == 403
