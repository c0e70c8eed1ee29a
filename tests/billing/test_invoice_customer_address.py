"""Invoices are made out to the driver's postal address: copied onto the invoice when it is
issued (later changes do not rewrite it), printed in the PDF's customer block, carried over
to a credit note."""

import io

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from billing.invoicing import issue_credit_note, run_invoicing
from billing.models import Invoice, InvoiceLine
from billing.pdf import render_invoice_pdf

pytestmark = pytest.mark.django_db

ADDRESS = "Jana Beispiel\nLindenstraße 12\n10115 Berlin\nGermany"


def pdf_text(invoice: Invoice) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(render_invoice_pdf(invoice))).pages)


def test_invoice_carries_the_address_the_driver_had_when_it_was_issued():
    call_command("seed_demo", stdout=io.StringIO())
    seeded = Invoice.objects.filter(kind="invoice").order_by("number").first()
    driver, period = seeded.driver, seeded.period
    assert seeded.customer_address == "" and "Lindenstraße" not in pdf_text(seeded)
    InvoiceLine.objects.filter(invoice=seeded).delete()
    seeded.delete()  # issue it again, now that the driver has an address
    driver.address = ADDRESS
    driver.save(update_fields=["address"])

    run_invoicing(period=period)
    invoice = Invoice.objects.get(kind="invoice", driver=driver, period=period)
    assert invoice.customer_address == ADDRESS
    text = pdf_text(invoice)
    for line in ADDRESS.splitlines():
        assert line in text
    assert text.index("Customer") < text.index("Lindenstraße 12") < text.index("10115 Berlin")

    driver.address = "Somewhere else 1\n99999 Elsewhere"
    driver.save(update_fields=["address"])
    invoice.refresh_from_db()
    assert "Lindenstraße 12" in pdf_text(invoice) and "Elsewhere" not in pdf_text(invoice)
    note = issue_credit_note(invoice=invoice, reason="wrong tariff")
    assert note.customer_address == ADDRESS and "10115 Berlin" in pdf_text(note)


def test_operator_sees_the_address_on_the_drivers_admin_page(admin_client):
    from stations.models import Driver

    driver = Driver.objects.create(email="jana@example.com", name="Jana", address=ADDRESS)
    page = admin_client.get(f"/admin/stations/driver/{driver.pk}/change/").content.decode()
    assert 'name="address"' in page and "Lindenstraße 12" in page
