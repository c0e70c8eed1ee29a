"""Invoices over the API, their PDF, the finance exports and the invoice admin: content and
who may see what (operators and Finance everything, drivers their own, others nothing)."""

import csv
import io
import warnings
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.test import AsyncClient
from pypdf import PdfReader
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.invoice_selectors import FINANCE_GROUP
from billing.invoicing import issue_credit_note, run_invoicing
from billing.models import Invoice, InvoiceKind
from stations.models import Organization
from stations.selectors import OPERATORS_GROUP
from tests.billing.invoice_data import make_cdr, make_driver

pytestmark = pytest.mark.django_db

OCT = "2026-10"


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def user_in(name: str, group: str | None = None, **fields) -> User:
    user = User.objects.create_user(name, **fields)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def billed():
    """October invoiced: Alice (two CDRs, 19 % and no-VAT parts) and Bob; Alice's invoice credited."""
    alice_user, bob_user = user_in("alice"), user_in("bob")
    alice = make_driver("alice@example.com", "Alice Liddell", user=alice_user)
    bob = make_driver("bob@example.com", "Bob", user=bob_user)
    make_cdr(driver=alice, ended_at=datetime(2026, 10, 3, 9, tzinfo=UTC), site_name="Acme Yard",
             vat_lines=[("19", "10.00", "1.90"), (None, "1.50", "0.00")])
    make_cdr(driver=alice, ended_at=datetime(2026, 10, 20, 9, tzinfo=UTC), site_name="Harbour",
             vat_lines=[("19", "1000.00", "190.00")], energy_kwh="2000.000")
    make_cdr(driver=bob, ended_at=datetime(2026, 10, 5, 9, tzinfo=UTC), vat_lines=[("7", "4.00", "0.28")])
    make_cdr(driver=bob, ended_at=datetime(2026, 9, 5, 9, tzinfo=UTC))  # September: not invoiced below
    run_invoicing(period=OCT)
    alice_invoice = Invoice.objects.get(driver=alice)
    note = issue_credit_note(invoice=alice_invoice, reason="wrong tariff")
    owner = user_in("owner")
    Organization.objects.create(name="Acme").members.add(owner)
    return {
        "alice": alice_user, "bob": bob_user, "owner": owner,
        "operator": user_in("operator", OPERATORS_GROUP), "finance": user_in("finance", FINANCE_GROUP),
        "alice_invoice": alice_invoice, "bob_invoice": Invoice.objects.get(driver=bob), "credit_note": note,
    }


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


# --- the invoice API ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["operator", "finance"])
def test_finance_and_operators_list_every_invoice_with_lines_and_vat_summary(billed, role):
    response = client_for(billed[role]).get("/api/v1/invoices/", {"period": OCT})

    assert response.status_code == 200
    results = {i["number"]: i for i in response.json()["results"]}
    assert set(results) == {"INV-000001", "INV-000002", "CN-000001"}
    alice = results[billed["alice_invoice"].number]
    assert alice["customer_name"] == "Alice Liddell" and alice["currency"] == "EUR"
    assert alice["total_incl_vat"] == "1203.40"
    assert alice["vat_summary"] == [
        {"rate": "19.00", "base": "1010.00", "vat": "191.90"},
        {"rate": None, "base": "1.50", "vat": "0.00"},
    ]
    assert [line["site_name"] for line in alice["lines"]] == ["Acme Yard", "Harbour"]
    assert alice["lines"][0]["amount_incl_vat"] == "13.40"
    assert alice["pdf_url"].endswith(f"/api/v1/invoices/{billed['alice_invoice'].pk}/pdf")
    assert results["CN-000001"]["kind"] == "credit_note" and results["CN-000001"]["credits"] == alice["number"]


def test_the_period_filter_selects_the_month(billed):
    response = client_for(billed["finance"]).get("/api/v1/invoices/", {"period": "2026-09"})
    assert response.json()["count"] == 0


def test_a_driver_sees_only_their_own_invoices(billed):
    client = client_for(billed["bob"])

    listed = client.get("/api/v1/invoices/").json()["results"]
    assert [i["number"] for i in listed] == [billed["bob_invoice"].number]
    assert client.get(f"/api/v1/invoices/{billed['bob_invoice'].pk}/").status_code == 200
    assert client.get(f"/api/v1/invoices/{billed['alice_invoice'].pk}/").status_code == 404


def test_site_owners_see_no_invoices(billed):
    assert client_for(billed["owner"]).get("/api/v1/invoices/").json()["count"] == 0


def test_invoices_cannot_be_changed_over_the_api(billed):
    url = f"/api/v1/invoices/{billed['bob_invoice'].pk}/"
    client = client_for(billed["operator"])
    assert client.patch(url, {"total_incl_vat": "0.00"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405


# --- the PDF ------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["pdf", "pdf/"])
def test_the_pdf_shows_the_invoice(billed, suffix):
    invoice = billed["alice_invoice"]

    response = client_for(billed["alice"]).get(f"/api/v1/invoices/{invoice.pk}/{suffix}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in [
        "Invoice INV-000001", "Alice Liddell", "alice@example.com", "ChargeNet",  # number, customer, seller
        "2026-10 (01 Oct 2026 – 31 Oct 2026, UTC)", "EUR",  # period, currency
        "2026-10-03", "Acme Yard · CP-INV-1", "Harbour", "2,000.000",  # lines: local date, site, kWh
        "13.40", "1,000.00",  # line amounts
        "19 %", "no VAT", "1,010.00", "191.90",  # VAT summary
        "Total incl. VAT (EUR)", "€ 1,203.40", "€ 1,011.50", "€ 191.90",  # totals
    ]:
        assert expected in text, expected


def test_the_credit_note_pdf_names_the_invoice_it_reverses(billed):
    note = billed["credit_note"]

    response = client_for(billed["finance"]).get(f"/api/v1/invoices/{note.pk}/pdf", HTTP_ACCEPT="application/pdf")

    text = pdf_text(response.content)
    assert "Credit note CN-000001" in text and "INV-000001" in text and "€ -1,203.40" in text
    assert "wrong tariff" in text


def test_a_driver_cannot_download_another_customers_pdf(billed):
    client = client_for(billed["bob"])
    for suffix in ("pdf", "pdf/"):
        assert client.get(f"/api/v1/invoices/{billed['alice_invoice'].pk}/{suffix}").status_code == 404
    assert client_for(billed["owner"]).get(f"/api/v1/invoices/{billed['bob_invoice'].pk}/pdf").status_code == 404
    assert APIClient().get(f"/api/v1/invoices/{billed['bob_invoice'].pk}/pdf").status_code == 401


# --- finance exports ----------------------------------------------------------------------

def test_the_invoices_export_has_one_row_per_invoice(billed):
    rows = read_csv(client_for(billed["finance"]).get("/api/v1/exports/invoices.csv", {"period": OCT}))

    assert [r["number"] for r in rows] == ["CN-000001", "INV-000001", "INV-000002"]
    by_number = {r["number"]: r for r in rows}
    alice = by_number["INV-000001"]
    assert alice["kind"] == "invoice" and alice["period"] == OCT and alice["currency"] == "EUR"
    assert (alice["total_excl_vat"], alice["total_vat"], alice["total_incl_vat"]) == ("1011.50", "191.90", "1203.40")
    assert alice["lines"] == "2" and alice["customer_email"] == "alice@example.com"
    assert '"rate":"19.00"' in alice["vat_summary"]
    assert by_number["CN-000001"]["credits"] == "INV-000001"
    assert by_number["CN-000001"]["total_incl_vat"] == "-1203.40"
    assert by_number["INV-000002"]["total_incl_vat"] == "4.28"
    assert datetime.fromisoformat(alice["issued_at"]).tzinfo is not None


def test_the_lines_export_has_one_row_per_line(billed):
    response = client_for(billed["operator"]).get("/api/v1/exports/invoice-lines.csv", {"period": OCT})
    assert 'filename="invoice-lines-2026-10.csv"' in response["Content-Disposition"]
    rows = read_csv(response)

    assert [(r["invoice_number"], r["amount_incl_vat"]) for r in rows] == [
        ("CN-000001", "-13.40"), ("CN-000001", "-1190.00"),
        ("INV-000001", "13.40"), ("INV-000001", "1190.00"),
        ("INV-000002", "4.28"),
    ]
    first = rows[2]
    assert first["site_name"] == "Acme Yard" and first["station_id"] == "CP-INV-1"
    assert first["energy_kwh"] == "12.500" and first["credit"] == "false" and rows[0]["credit"] == "true"
    assert first["session_end"].startswith("2026-10-03T09:00:00")
    assert first["cdr_id"].startswith("CDR-")
    # Amounts add up across the export.
    assert sum(Decimal(r["amount_incl_vat"]) for r in rows) == Decimal("4.28")


def test_an_empty_period_exports_the_header_only(billed):
    response = client_for(billed["finance"]).get("/api/v1/exports/invoices.csv", {"period": "2025-01"})
    assert b"".join(response.streaming_content).decode().splitlines() == [
        "number,kind,credits,issued_at,period,customer_id,customer_name,customer_email,currency,"
        "total_excl_vat,total_vat,total_incl_vat,lines,vat_summary"
    ]


@pytest.mark.parametrize("path", ["/api/v1/exports/invoices.csv", "/api/v1/exports/invoice-lines.csv"])
@pytest.mark.parametrize("query, message", [
    ({}, "period query parameter is required"),
    ({"period": "2026-13"}, "YYYY-MM"),
    ({"period": "October"}, "YYYY-MM"),
])
def test_a_missing_or_bad_period_is_a_400_with_a_message(billed, path, query, message):
    response = client_for(billed["finance"]).get(path, query)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_bad_period_is_explained_to_a_csv_client_too(billed):
    response = client_for(billed["finance"]).get("/api/v1/exports/invoices.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert b"period query parameter is required" in response.content


@pytest.mark.parametrize("path", ["/api/v1/exports/invoices.csv", "/api/v1/exports/invoice-lines.csv"])
@pytest.mark.parametrize("role", ["alice", "owner"])
def test_drivers_and_site_owners_may_not_export(billed, path, role):
    assert client_for(billed[role]).get(path, {"period": OCT}).status_code == 403


def test_anonymous_exports_are_refused(billed):
    assert APIClient().get("/api/v1/exports/invoices.csv", {"period": OCT}).status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_exports_stream_under_asgi_without_reading_everything_first(billed):
    """Django's ASGI handler would list() a plain sync iterator before sending a byte."""
    token = await Token.objects.acreate(user=billed["finance"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = await AsyncClient().get(
            "/api/v1/exports/invoice-lines.csv", {"period": OCT}, headers={"Authorization": f"Token {token.key}"}
        )
        chunks = [chunk async for chunk in response]  # what the ASGI handler does
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 5


# --- the admin ----------------------------------------------------------------------------

@pytest.fixture
def finance_admin(billed, client):
    user = billed["finance"]
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_finance_staff_browse_invoices_read_only_in_the_admin(finance_admin, billed):
    assert finance_admin.get("/admin/billing/invoice/").status_code == 200
    page = finance_admin.get(f"/admin/billing/invoice/{billed['alice_invoice'].pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Acme Yard · CP-INV-1" in body  # the lines inline
    assert 'name="_save"' not in body  # read-only
    assert finance_admin.get("/admin/billing/invoice/add/").status_code == 403


def test_admin_pdf_download_action(finance_admin, billed):
    one = finance_admin.post("/admin/billing/invoice/", {
        "action": "download_pdf", "_selected_action": [billed["bob_invoice"].pk],
    })
    assert one["Content-Type"] == "application/pdf" and "Invoice INV-000002" in pdf_text(one.content)

    several = finance_admin.post("/admin/billing/invoice/", {
        "action": "download_pdf", "_selected_action": [billed["bob_invoice"].pk, billed["alice_invoice"].pk],
    })
    assert several["Content-Type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(several.content)).namelist()) == ["INV-000001.pdf", "INV-000002.pdf"]


def test_admin_csv_export_action(finance_admin, billed):
    response = finance_admin.post("/admin/billing/invoice/", {
        "action": "export_invoices_csv", "_selected_action": [billed["bob_invoice"].pk],
    })
    assert [r["number"] for r in read_csv(response)] == ["INV-000002"]


def test_admin_credit_note_action_asks_for_a_reason_then_issues_it(finance_admin, billed):
    selected = {"action": "credit_in_full", "_selected_action": [billed["bob_invoice"].pk]}

    form = finance_admin.post("/admin/billing/invoice/", selected)
    assert form.status_code == 200 and b"Issue credit notes" in form.content
    assert not Invoice.objects.filter(credits=billed["bob_invoice"]).exists()

    finance_admin.post("/admin/billing/invoice/", {**selected, "apply": "1", "reason": "session never happened"})
    note = Invoice.objects.get(credits=billed["bob_invoice"])
    assert note.number == "CN-000002" and note.total_incl_vat == Decimal("-4.28")


def test_admin_runs_invoicing_for_a_period(finance_admin, billed):
    page = finance_admin.get("/admin/billing/invoice/run-invoicing/")
    assert page.status_code == 200 and b"Run invoicing" in page.content

    response = finance_admin.post("/admin/billing/invoice/run-invoicing/", {"period": "2026-09"}, follow=True)

    assert response.status_code == 200
    assert b"Invoicing 2026-09: 1 invoices" in response.content
    assert Invoice.objects.filter(period="2026-09", kind=InvoiceKind.INVOICE).count() == 1


def test_admin_refuses_to_run_invoicing_for_an_open_month(finance_admin):
    response = finance_admin.post("/admin/billing/invoice/run-invoicing/", {"period": f"{datetime.now(UTC):%Y-%m}"})
    assert response.status_code == 200 and b"has not ended yet" in response.content


def test_staff_outside_finance_cannot_run_invoicing(client, billed):
    clerk = User.objects.create_user("clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get("/admin/billing/invoice/run-invoicing/").status_code == 403
    assert client.get("/admin/billing/invoice/").status_code == 403
