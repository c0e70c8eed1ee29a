"""The invoice PDF carries what a customer pays by: due date, payment terms, each session's
duration and price per kWh, and the operator's logo when one is set."""

import io

import pytest
from django.core.management import call_command
from PIL import Image
from pypdf import PdfReader

from billing.models import Invoice, InvoiceLine
from billing.pdf import render_invoice_pdf

pytestmark = pytest.mark.django_db


def test_invoice_pdf_has_terms_durations_unit_prices_and_the_logo(settings, tmp_path):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    invoice = Invoice.objects.filter(kind="invoice").order_by("number").first()
    settings.CHARGENET_INVOICE_PAYMENT_TERMS_DAYS = 30
    logo = tmp_path / "logo.png"
    Image.new("RGB", (200, 80), (11, 107, 203)).save(logo)
    settings.CHARGENET_INVOICE_LOGO = str(logo)

    pdf = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    due = (invoice.issued_at.date().toordinal() + 30)
    assert "Due date" in text and __import__("datetime").date.fromordinal(due).isoformat() in text
    assert "payable within 30 days of the invoice date" in text
    assert any(duration in text for duration in ("1:35 h", "0:50 h", "2:40 h"))
    line = InvoiceLine.objects.filter(invoice=invoice).order_by("id").first()
    assert f"{line.amount_excl_vat / line.energy_kwh:.2f}" in text  # net price per kWh
    assert len(pdf.pages[0].images) == 1

    settings.CHARGENET_INVOICE_LOGO = str(tmp_path / "missing.png")
    assert len(PdfReader(io.BytesIO(render_invoice_pdf(invoice))).pages[0].images) == 0  # still renders
