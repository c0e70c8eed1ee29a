"""Roaming in the books: our driver's charge at a partner CPO becomes a line of the driver's
monthly invoice at our roaming price (partner cost + margin, our VAT), beside home sessions,
numbered gaplessly and only once; finance's settlement report lists what we owe each CPO and
what each eMSP owes us."""

import base64
import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from billing.invoice_selectors import FINANCE_GROUP
from billing.invoicing import run_invoicing
from billing.models import Invoice
from roaming.credentials import add_partner
from roaming.models import Partner, PartnerRole, PartnerStatus, PartnerToken
from stations.models import IdToken
from tests.billing.invoice_data import make_cdr
from tests.roaming import ocpi_objects as ocpi

pytestmark = pytest.mark.django_db

E = "/ocpi/2.2.1/emsp"


@pytest.fixture
def cpo_partner(client):
    partner, token = add_partner(name="Partner CPO", role=PartnerRole.CPO)
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.REGISTERED, country_code="NL", party_id="CPO")
    header = "Token " + base64.b64encode(token.encode()).decode()

    def call(method, path, data=None):
        return getattr(client, method)(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=header)

    return call


def test_a_roaming_cdr_is_invoiced_at_the_roaming_price_beside_home_sessions_once(cpo_partner, make_token, settings):
    settings.OCPI_ROAMING_MARGIN_PERCENT, settings.OCPI_ROAMING_VAT_PERCENT = 10, "19"
    token = make_token("CARD-1")
    home = make_cdr(driver=token.driver, ended_at=datetime(2026, 11, 2, 9, tzinfo=UTC), site_name="Home Yard")
    cpo_partner("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=8.00))

    result = run_invoicing(period="2026-11")
    assert (result.invoices_created, result.lines_created) == (1, 2)
    invoice = Invoice.objects.get(driver=token.driver)
    lines = list(invoice.lines.order_by("cdr__end_date_time"))
    assert [line.cdr for line in lines][0] == home
    roaming = lines[1]
    assert roaming.description.startswith("Partner CPO: Gent Zuid")
    assert (str(roaming.amount_excl_vat), str(roaming.vat), str(roaming.amount_incl_vat)) == ("8.80", "1.67", "10.47")
    assert str(invoice.total_excl_vat) == str(home.total_cost_excl_vat + roaming.amount_excl_vat)
    assert {"rate": "19.00", "base": "18.80", "vat": "3.57"} in invoice.vat_summary

    again = run_invoicing(period="2026-11")
    assert (again.invoices_created, again.lines_created) == (0, 0)


def finance_client() -> APIClient:
    user = User.objects.create_user("finance")
    user.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_settlement_report_lists_what_we_owe_cpos_and_what_emsps_owe_us(cpo_partner, make_token):
    make_token("CARD-1")
    cpo_partner("post", f"{E}/cdrs", ocpi.cdr("CDR1", kwh=20, excl=8.00))
    cpo_partner("post", f"{E}/cdrs", ocpi.cdr("CDR2", kwh=10, excl=4.00))
    # A driver of an eMSP partner charged at our charger: its CDR is owed to us.
    emsp, _ = add_partner(name="Partner eMSP", role=PartnerRole.EMSP)
    guest = IdToken.objects.create(value="GUEST-1")
    PartnerToken.objects.create(partner=emsp, id_token=guest, country_code="FR", party_id="EMS", uid="GUEST-1",
                                type="RFID", contract_id="FR-EMS-1", data={}, last_updated=datetime.now(UTC))
    ours = make_cdr(driver=None, ended_at=datetime(2026, 11, 4, 9, tzinfo=UTC),
                    vat_lines=[("19", "12.00", "2.28")])
    ours.session.id_token = guest
    ours.session.save()

    response = finance_client().get("/api/v1/roaming/settlement.csv?period=2026-11")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    cdrs = [(r["partner"], r["direction"], r["cdr_id"], r["amount_excl_vat"]) for r in rows if r["row"] == "cdr"]
    assert cdrs == [("Partner CPO", "we_owe_cpo", "CDR1", "8.00"), ("Partner CPO", "we_owe_cpo", "CDR2", "4.00"),
                    ("Partner eMSP", "emsp_owes_us", ours.cdr_id, "12.00")]
    totals = {(r["partner"], r["direction"]): (r["cdr_id"], r["energy_kwh"], r["amount_excl_vat"])
              for r in rows if r["row"] == "total"}
    assert totals == {("Partner CPO", "we_owe_cpo"): ("2 CDRs", "30.000", "12.00"),
                      ("Partner eMSP", "emsp_owes_us"): ("1 CDRs", "12.500", "12.00")}


def test_the_settlement_report_is_for_finance_only_and_needs_a_period(make_token):
    driver_user = User.objects.create_user("driver")
    client = APIClient()
    client.force_authenticate(driver_user)
    assert client.get("/api/v1/roaming/settlement.csv?period=2026-11").status_code == 403
    assert finance_client().get("/api/v1/roaming/settlement.csv?period=2026-13").status_code == 400


def test_the_invoice_pdf_shows_the_roaming_line(cpo_partner, make_token):
    from billing.pdf import render_invoice_pdf

    token = make_token("CARD-1")
    cpo_partner("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=8.00))
    run_invoicing(period="2026-11")
    pdf = render_invoice_pdf(Invoice.objects.get(driver=token.driver))
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Partner CPO: Gent Zuid" in text


def test_with_our_own_roaming_tariff_the_driver_pays_that_tariff_for_the_partner_charge(cpo_partner, make_token,
                                                                                       settings):
    from roaming.selectors import location_summaries, partner_locations
    from tests.billing.tariff_data import make_tariff

    settings.OCPI_ROAMING_TARIFF_ID = "roam-ours"
    make_tariff("ROAM-OURS", {"price_components": [{"type": "ENERGY", "price": 0.50, "vat": 19, "step_size": 1},
                                                   {"type": "FLAT", "price": 1.00, "vat": 19, "step_size": 1}]})
    token = make_token("CARD-1")
    cpo_partner("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location())
    assert location_summaries(partner_locations())[0]["price"] == "0.50 EUR/kWh excl. VAT"
    cpo_partner("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=8.00))
    billed = token.driver.cdrs.get()
    assert (str(billed.total_cost_excl_vat), str(billed.total_vat)) == ("11.00", "2.09")  # 20 kWh x 0.50 + 1.00
    assert billed.breakdown["roaming"]["roaming_tariff"] == "ROAM-OURS"
    assert [(str(v.vat_rate), str(v.base)) for v in billed.vat_lines.all()] == [("19.00", "11.00")]
