"""Every link a role sees in the admin opens: a page the role may not open is named as
plain text, not linked (finance once met a 403 behind each CDR's driver and session)."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def crawl(client: Client, start: str, limit: int = 400) -> list[tuple[str, int, str]]:
    """Follow admin links breadth-first; (url, status, found on) for each that is refused."""
    found_on, queue, seen, refused = {}, [start], set(), []
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code in (403, 404):
            refused.append((url, response.status_code, found_on.get(url, "")))
            continue
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in re.findall(r'href="(/admin/[^"#]*)"', response.content.decode()):
            href = href.replace("&amp;", "&")
            if "logout" in href or "/delete/" in href or href in seen:
                continue
            found_on.setdefault(href, url)
            queue.append(href)
    return refused


@pytest.mark.parametrize("role", ["finance", "owner"])
def test_no_admin_link_a_role_sees_is_refused(role):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    client = Client()
    assert client.login(username=role, password=role)
    assert crawl(client, "/admin/") == []


def test_finance_reads_a_cdrs_driver_and_session_as_text_the_operator_as_links():
    from billing.models import ChargeDetailRecord

    call_command("seed_demo", stdout=open("/dev/null", "w"))
    cdr = ChargeDetailRecord.objects.select_related("driver", "session").first()
    finance, operator = Client(), Client()
    assert finance.login(username="finance", password="finance")
    assert operator.login(username="admin", password="admin")
    page = finance.get(f"/admin/billing/chargedetailrecord/{cdr.pk}/change/").content.decode()
    assert str(cdr.driver) in page and f"/admin/stations/driver/{cdr.driver_id}/change/" not in page
    assert f"/admin/stations/chargingsession/{cdr.session_id}/change/" not in page
    page = operator.get(f"/admin/billing/chargedetailrecord/{cdr.pk}/change/").content.decode()
    assert f"/admin/stations/driver/{cdr.driver_id}/change/" in page


def test_cdr_and_invoice_pages_show_tables_not_json():
    from billing.models import ChargeDetailRecord, Invoice

    call_command("seed_demo", stdout=open("/dev/null", "w"))
    finance = Client()
    assert finance.login(username="finance", password="finance")
    cdr = ChargeDetailRecord.objects.first()
    page = finance.get(f"/admin/billing/chargedetailrecord/{cdr.pk}/change/").content.decode()
    line = cdr.breakdown["lines"][0]
    assert '<table class="price-lines">' in page and f"<td>{line['amount_incl_vat']}</td>" in page
    assert "&quot;element_index&quot;" not in page  # the breakdown JSON itself is not shown
    invoice = Invoice.objects.first()
    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    entry = invoice.vat_summary[0]
    assert '<table class="vat-summary">' in page
    assert f"<td>{entry['rate']} %</td><td>{entry['base']}</td><td>{entry['vat']}</td>" in page
