"""The invoice (and credit note) as a PDF document.

Rendered with ReportLab's platypus: pure Python wheels, no system libraries (WeasyPrint would
need Pango and friends on every machine), and its standard PDF fonts carry the euro sign, so
nothing is embedded and the document stays small. Those fonts cover Latin-1 plus the
WinAnsi extras (€, –, ·, ...); a character outside that range shows as a blank.

The seller block comes from ``settings.CHARGENET_INVOICE_SELLER`` (a dict with ``name``,
``address`` lines and ``vat_id``), with a placeholder where it is not set.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.invoicing import parse_period
from billing.models import Invoice, InvoiceKind

logger = logging.getLogger(__name__)

DEFAULT_SELLER = {
    "name": "ChargeNet charging network",
    "address": ["(set CHARGENET_INVOICE_SELLER in the settings)"],
    "vat_id": "",
}

CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


def format_money(amount: Decimal) -> str:
    """1234.5 -> '1,234.50' (the PDF's notation; exports use plain '1234.50')."""
    return f"{Decimal(amount):,.2f}"


def format_total(amount: Decimal, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol} {format_money(amount)}" if symbol else f"{format_money(amount)} {currency}"


def seller() -> dict:
    return {**DEFAULT_SELLER, **getattr(settings, "CHARGENET_INVOICE_SELLER", {})}


def _zone(name: str):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local_date(moment: datetime, zone_name: str) -> str:
    return moment.astimezone(_zone(zone_name)).strftime("%Y-%m-%d")


def _period_text(code: str) -> str:
    period = parse_period(code)
    last_day = period.end - timedelta(days=1)
    return f"{code} ({period.start:%d %b %Y} – {last_day:%d %b %Y}, UTC)"


def _styles():
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], alignment=0, fontSize=18, spaceAfter=4 * mm),
        "normal": ParagraphStyle("normal", parent=base["Normal"], fontSize=9, leading=11),
        "small": ParagraphStyle("small", parent=base["Normal"], fontSize=8, leading=10),
        "bold": ParagraphStyle("bold", parent=base["Normal"], fontName="Helvetica-Bold", fontSize=9, leading=11),
        "right": ParagraphStyle("right", parent=base["Normal"], fontSize=9, leading=11, alignment=TA_RIGHT),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=11, spaceBefore=5 * mm, spaceAfter=2 * mm),
    }


GRID = TableStyle([
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
    ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
    ("LINEBELOW", (0, 1), (-1, -1), 0.2, colors.lightgrey),
    ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ("TOPPADDING", (0, 0), (-1, -1), 2),
])


def _duration(started_at: datetime | None, ended_at: datetime | None) -> str:
    if started_at is None or ended_at is None:
        return ""
    minutes = max(int((ended_at - started_at).total_seconds() // 60), 0)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _logo() -> list:
    """The operator's logo (settings.CHARGENET_INVOICE_LOGO), at most 50 x 20 mm, if set."""
    path = getattr(settings, "CHARGENET_INVOICE_LOGO", "")
    if not path:
        return []
    try:
        ImageReader(path).getSize()  # read now: a missing or broken file must not stop invoicing
    except Exception:  # noqa: BLE001  (ReportLab wraps every reading error differently)
        logger.warning("invoice logo %s cannot be read; invoices go out without it", path)
        return []
    logo = Image(path, width=50 * mm, height=20 * mm, kind="proportional")
    logo.hAlign = "LEFT"
    return [logo, Spacer(1, 3 * mm)]


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The document as bytes: seller, customer, number, dates, lines, VAT summary, totals."""
    styles = _styles()
    is_credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    title = "Credit note" if is_credit else "Invoice"
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
        title=f"{title} {invoice.number}", author=seller()["name"], subject=f"{title} {invoice.number}",
    )
    story = [*_logo(), Paragraph(f"{title} {escape(invoice.number)}", styles["title"])]

    vendor = seller()
    seller_lines = [f"<b>{escape(vendor['name'])}</b>", *(escape(line) for line in vendor.get("address", []))]
    if vendor.get("vat_id"):
        seller_lines.append(f"VAT ID: {escape(vendor['vat_id'])}")
    customer_lines = ["<b>Customer</b>", escape(invoice.customer_name),
                      *(escape(line) for line in invoice.customer_address.splitlines() if line.strip()),
                      escape(invoice.customer_email)]
    parties = Table(
        [[Paragraph("<br/>".join(seller_lines), styles["normal"]),
          Paragraph("<br/>".join(customer_lines), styles["normal"])]],
        colWidths=[87 * mm, 87 * mm],
    )
    parties.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [parties, Spacer(1, 5 * mm)]

    facts = [
        ["Number", invoice.number],
        ["Date", f"{invoice.issued_at.astimezone(_zone('UTC')):%Y-%m-%d}"],
        ["Period", _period_text(invoice.period)],
        ["Currency", invoice.currency],
    ]
    if is_credit and invoice.credits_id:
        facts.append(["Corrects invoice", invoice.credits.number])
    else:
        days = settings.CHARGENET_INVOICE_PAYMENT_TERMS_DAYS
        facts += [["Due date", f"{(invoice.issued_at + timedelta(days=days)).astimezone(_zone('UTC')):%Y-%m-%d}"],
                  ["Payment terms", f"payable within {days} days of the invoice date, without deduction"]]
    facts_table = Table(facts, colWidths=[35 * mm, 139 * mm])
    facts_table.setStyle(TableStyle([
        ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 9), ("FONT", (1, 0), (1, -1), "Helvetica", 9),
        ("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]))
    story += [facts_table, Paragraph("Charging sessions", styles["h2"])]

    header = ["Date", "Station / site", "Duration", "Energy kWh", "Net / kWh", "Net", "VAT", "Total"]
    rows = [header]
    lines = invoice.lines.order_by("id").values_list(
        "cdr__start_date_time", "cdr__end_date_time", "cdr__time_zone", "description", "energy_kwh",
        "amount_excl_vat", "vat", "amount_incl_vat",
    )
    for started_at, ended_at, zone_name, description, energy, net, vat, gross in lines.iterator(chunk_size=2000):
        energy = Decimal(energy)
        rows.append([
            _local_date(ended_at, zone_name), Paragraph(escape(description), styles["small"]),
            _duration(started_at, ended_at), f"{energy:,.3f}",
            format_money((Decimal(net) / energy).quantize(Decimal("0.0001"))) if energy else "",
            format_money(net), format_money(vat), format_money(gross),
        ])
    line_table = LongTable(rows, colWidths=[19 * mm, 49 * mm, 16 * mm, 19 * mm, 17 * mm, 18 * mm, 17 * mm,
                                            19 * mm], repeatRows=1)
    line_table.setStyle(GRID)
    story.append(line_table)

    story.append(Paragraph("VAT summary", styles["h2"]))
    vat_rows = [["VAT rate", "", "Base", "VAT"]]
    for entry in invoice.vat_summary:
        rate = "no VAT" if entry["rate"] is None else f"{Decimal(entry['rate']).normalize():f} %"
        vat_rows.append([rate, "", format_money(Decimal(entry["base"])), format_money(Decimal(entry["vat"]))])
    vat_table = Table(vat_rows, colWidths=[30 * mm, 84 * mm, 30 * mm, 30 * mm])
    vat_table.setStyle(GRID)
    story.append(vat_table)

    totals = Table(
        [
            ["Total excl. VAT", format_total(invoice.total_excl_vat, invoice.currency)],
            ["VAT", format_total(invoice.total_vat, invoice.currency)],
            [f"Total incl. VAT ({invoice.currency})", format_total(invoice.total_incl_vat, invoice.currency)],
        ],
        colWidths=[144 * mm, 30 * mm],
    )
    totals.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -2), "Helvetica", 9),
        ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 10),
        ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
    ]))
    story += [Spacer(1, 4 * mm), totals]
    if is_credit:
        story += [Spacer(1, 4 * mm), Paragraph(
            f"This credit note reverses invoice {escape(invoice.credits.number)} in full.", styles["normal"])]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"{invoice.number} · page {doc.page}")
        canvas.drawString(18 * mm, 10 * mm, vendor["name"])
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"
