"""Monthly invoicing: what goes on an invoice, gapless numbers, idempotence, VAT summaries,
immutability and credit notes."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import tasks
from billing.invoicing import (
    CreditNoteError,
    InvalidPeriod,
    issue_credit_note,
    parse_period,
    previous_period,
    run_invoicing,
)
from billing.models import ImmutableError, Invoice, InvoiceKind, InvoiceLine, InvoiceSeries
from tests.billing.invoice_data import make_cdr, make_driver

pytestmark = pytest.mark.django_db

OCT = "2026-10"
OCT_START = datetime(2026, 10, 1, tzinfo=UTC)
NOV_START = datetime(2026, 11, 1, tzinfo=UTC)


def in_october(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def numbers(kind=InvoiceKind.INVOICE) -> list[str]:
    return list(Invoice.objects.filter(kind=kind).order_by("sequence").values_list("number", flat=True))


# --- what goes on an invoice -----------------------------------------------------------

def test_one_invoice_per_customer_and_currency_with_one_line_per_cdr():
    alice = make_driver("alice@example.com", "Alice Liddell")
    bob = make_driver("bob@example.com")
    a1 = make_cdr(driver=alice, ended_at=in_october(3))
    a2 = make_cdr(driver=alice, ended_at=in_october(20))
    a_chf = make_cdr(driver=alice, ended_at=in_october(5), currency="CHF")
    b1 = make_cdr(driver=bob, ended_at=in_october(7))

    result = run_invoicing(period=OCT)

    assert (result.invoices_created, result.lines_created) == (3, 4)
    invoices = {(i.driver_id, i.currency): i for i in Invoice.objects.all()}
    assert set(invoices) == {(alice.pk, "EUR"), (alice.pk, "CHF"), (bob.pk, "EUR")}
    alice_eur = invoices[(alice.pk, "EUR")]
    assert [line.cdr_id for line in alice_eur.lines.order_by("id")] == [a1.pk, a2.pk]
    assert [line.cdr_id for line in invoices[(alice.pk, "CHF")].lines.all()] == [a_chf.pk]
    assert [line.cdr_id for line in invoices[(bob.pk, "EUR")].lines.all()] == [b1.pk]
    assert alice_eur.customer_name == "Alice Liddell" and alice_eur.customer_email == "alice@example.com"
    assert invoices[(bob.pk, "EUR")].customer_name == "bob@example.com"  # no name: the e-mail stands in
    assert {i.period for i in invoices.values()} == {OCT}
    line = alice_eur.lines.order_by("id").first()
    assert line.description == "Acme Yard · CP-INV-1"
    assert (line.energy_kwh, line.amount_excl_vat, line.vat, line.amount_incl_vat, line.credit) == (
        Decimal("12.500"), Decimal("10.00"), Decimal("1.90"), Decimal("11.90"), False,
    )


def test_the_month_is_cut_in_utc_on_the_session_end():
    alice = make_driver("alice@example.com")
    first_instant = make_cdr(driver=alice, ended_at=OCT_START)
    last_instant = make_cdr(driver=alice, ended_at=NOV_START - timedelta(microseconds=1))
    make_cdr(driver=alice, ended_at=NOV_START)  # November
    make_cdr(driver=alice, ended_at=OCT_START - timedelta(microseconds=1))  # September
    # 00:30 in Berlin on 1 November is still October in UTC.
    berlin_midnight = make_cdr(driver=alice, ended_at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))

    run_invoicing(period=OCT)

    invoiced = set(InvoiceLine.objects.values_list("cdr_id", flat=True))
    assert invoiced == {first_instant.pk, last_instant.pk, berlin_midnight.pk}


def test_cdrs_without_a_customer_are_counted_not_invoiced():
    make_cdr(driver=None, ended_at=in_october(2))
    make_cdr(driver=make_driver("alice@example.com"), ended_at=in_october(2))

    result = run_invoicing(period=OCT)

    assert result.invoices_created == 1
    assert result.skipped_without_customer == 1


def test_totals_are_the_sums_of_the_lines():
    alice = make_driver("alice@example.com")
    make_cdr(driver=alice, ended_at=in_october(1), vat_lines=[("19", "10.01", "1.90")])
    make_cdr(driver=alice, ended_at=in_october(2), vat_lines=[("19", "0.99", "0.19"), (None, "2.50", "0.00")])
    make_cdr(driver=alice, ended_at=in_october(3), vat_lines=[("7", "3.33", "0.23")])

    run_invoicing(period=OCT)

    invoice = Invoice.objects.get()
    lines = list(invoice.lines.all())
    assert invoice.total_excl_vat == sum(line.amount_excl_vat for line in lines) == Decimal("16.83")
    assert invoice.total_vat == sum(line.vat for line in lines) == Decimal("2.32")
    assert invoice.total_incl_vat == sum(line.amount_incl_vat for line in lines) == Decimal("19.15")


def test_vat_summary_has_one_entry_per_rate_and_keeps_no_vat_apart_from_zero():
    alice = make_driver("alice@example.com")
    make_cdr(driver=alice, ended_at=in_october(1), vat_lines=[("19", "10.00", "1.90"), ("7", "2.00", "0.14")])
    make_cdr(driver=alice, ended_at=in_october(2), vat_lines=[("19", "5.00", "0.95"), (None, "1.50", "0.00")])
    make_cdr(driver=alice, ended_at=in_october(3), vat_lines=[("0", "4.00", "0.00")])

    run_invoicing(period=OCT)

    invoice = Invoice.objects.get()
    assert invoice.vat_summary == [
        {"rate": "0.00", "base": "4.00", "vat": "0.00"},
        {"rate": "7.00", "base": "2.00", "vat": "0.14"},
        {"rate": "19.00", "base": "15.00", "vat": "2.85"},
        {"rate": None, "base": "1.50", "vat": "0.00"},
    ]
    assert sum(Decimal(e["base"]) for e in invoice.vat_summary) == invoice.total_excl_vat
    assert sum(Decimal(e["vat"]) for e in invoice.vat_summary) == invoice.total_vat


# --- numbers ---------------------------------------------------------------------------

def test_numbers_are_sequential_and_gapless_across_runs_and_periods():
    drivers = [make_driver(f"d{n}@example.com") for n in range(5)]
    for driver in drivers:
        make_cdr(driver=driver, ended_at=in_october(10))
    for driver in drivers[:3]:
        make_cdr(driver=driver, ended_at=datetime(2026, 9, 10, tzinfo=UTC))

    first = run_invoicing(period=OCT)
    second = run_invoicing(period="2026-09")

    assert (first.first_number, first.last_number) == ("INV-000001", "INV-000005")
    assert (second.first_number, second.last_number) == ("INV-000006", "INV-000008")
    assert numbers() == [f"INV-{n:06d}" for n in range(1, 9)]
    assert list(Invoice.objects.order_by("sequence").values_list("sequence", flat=True)) == list(range(1, 9))
    assert InvoiceSeries.objects.get(code="INV").next_number == 9
    # Within a run, numbers follow the customers' order.
    october = Invoice.objects.filter(period=OCT).order_by("sequence")
    assert [i.driver_id for i in october] == sorted(d.pk for d in drivers)


def test_running_a_period_again_creates_nothing():
    alice, bob = make_driver("alice@example.com"), make_driver("bob@example.com")
    make_cdr(driver=alice, ended_at=in_october(1))
    make_cdr(driver=bob, ended_at=in_october(1))
    run_invoicing(period=OCT)

    again = run_invoicing(period=OCT)

    assert again.as_dict() == {
        "period": OCT, "invoices_created": 0, "lines_created": 0, "first_number": None, "last_number": None,
        "skipped_already_invoiced": 2, "skipped_without_customer": 0, "late_cdrs": 0,
    }
    assert Invoice.objects.count() == 2 and InvoiceLine.objects.count() == 2
    assert InvoiceSeries.objects.get(code="INV").next_number == 3


def test_a_new_customer_is_invoiced_by_a_later_run_of_the_same_period():
    make_cdr(driver=make_driver("alice@example.com"), ended_at=in_october(1))
    run_invoicing(period=OCT)
    make_cdr(driver=make_driver("carol@example.com"), ended_at=in_october(2))

    result = run_invoicing(period=OCT)

    assert (result.invoices_created, result.first_number, result.skipped_already_invoiced) == (1, "INV-000002", 1)


def test_a_late_cdr_of_an_invoiced_customer_is_reported_not_invoiced_twice():
    alice = make_driver("alice@example.com")
    make_cdr(driver=alice, ended_at=in_october(1))
    run_invoicing(period=OCT)
    late = make_cdr(driver=alice, ended_at=in_october(30))

    result = run_invoicing(period=OCT)

    assert (result.invoices_created, result.late_cdrs) == (0, 1)
    assert not InvoiceLine.objects.filter(cdr=late).exists()


def test_a_rolled_back_run_leaves_no_gap():
    make_cdr(driver=make_driver("alice@example.com"), ended_at=in_october(1))
    make_cdr(driver=make_driver("bob@example.com"), ended_at=in_october(1))

    with pytest.raises(RuntimeError), transaction.atomic():
        assert run_invoicing(period=OCT).invoices_created == 2
        raise RuntimeError("the surrounding transaction fails after the run")

    assert not Invoice.objects.exists()
    assert run_invoicing(period=OCT).first_number == "INV-000001"
    assert numbers() == ["INV-000001", "INV-000002"]


def test_the_database_refuses_a_second_invoice_for_a_customer_period_and_currency():
    alice = make_driver("alice@example.com")
    make_cdr(driver=alice, ended_at=in_october(1))
    run_invoicing(period=OCT)
    invoice = Invoice.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            series=invoice.series, sequence=99, number="INV-000099", driver=alice, period=OCT, currency="EUR",
            issued_at=invoice.issued_at, customer_name="x", customer_email="alice@example.com",
            total_excl_vat=0, total_vat=0, total_incl_vat=0,
        )


def test_the_number_of_queries_does_not_grow_with_the_number_of_cdrs():
    """Set-based: 3 CDRs or 30 per customer, the run issues the same statements."""
    InvoiceSeries.objects.create(code="INV")  # its creation on first use is a few more

    def queries_for(cdrs_per_customer: int, period: str, month: int) -> int:
        for n in range(3):
            driver = make_driver(f"p{month}-{n}@example.com")
            for day in range(cdrs_per_customer):
                make_cdr(driver=driver, ended_at=datetime(2026, month, 1 + day % 28, tzinfo=UTC))
        with CaptureQueriesContext(connection) as captured:
            assert run_invoicing(period=period).lines_created == 3 * cdrs_per_customer
        return len(captured)

    assert queries_for(3, "2026-08", 8) == queries_for(30, "2026-09", 9)


# --- periods, the task and the command ---------------------------------------------------

@pytest.mark.parametrize("value", ["", None, "2026-13", "2026-00", "2026-1", "26-10", "2026/10", "1999-12"])
def test_a_malformed_period_is_refused(value):
    with pytest.raises(InvalidPeriod):
        parse_period(value)


def test_a_month_that_has_not_ended_is_not_invoiced():
    this_month = f"{datetime.now(UTC):%Y-%m}"
    with pytest.raises(InvalidPeriod, match="not ended"):
        run_invoicing(period=this_month)
    assert not InvoiceSeries.objects.exists()


def test_period_bounds_and_the_previous_month():
    december = parse_period("2026-12")
    assert (december.start, december.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert previous_period(datetime(2027, 1, 1, 2, 0, tzinfo=UTC)) == "2026-12"
    assert previous_period(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-10"


def test_the_celery_task_invoices_the_given_period():
    make_cdr(driver=make_driver("alice@example.com"), ended_at=in_october(1))

    # apply(): the task's body here, eager or not (with REDIS_URL, delay() would need a worker).
    result = tasks.run_invoicing.apply(args=(OCT,)).get()

    assert result["invoices_created"] == 1 and result["period"] == OCT


def test_the_management_command_runs_the_task_and_prints_the_result(capsys):
    make_cdr(driver=make_driver("alice@example.com"), ended_at=in_october(1))

    call_command("run_invoicing", "--period", OCT)

    out = capsys.readouterr().out
    assert "Period 2026-10: 1 invoices, 1 lines (INV-000001 to INV-000001)" in out
    assert json.loads(out.strip().splitlines()[-1])["invoices_created"] == 1


def test_the_management_command_refuses_a_bad_period():
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("run_invoicing", "--period", "October")


# --- immutability and credit notes -------------------------------------------------------

@pytest.fixture
def invoice():
    alice = make_driver("alice@example.com", "Alice")
    make_cdr(driver=alice, ended_at=in_october(1), vat_lines=[("19", "10.00", "1.90"), (None, "1.00", "0.00")])
    make_cdr(driver=alice, ended_at=in_october(2), vat_lines=[("7", "5.00", "0.35")])
    run_invoicing(period=OCT)
    return Invoice.objects.get()


def test_an_issued_invoice_cannot_be_changed(invoice):
    invoice.total_incl_vat = Decimal("0.01")
    with pytest.raises(ImmutableError):
        invoice.save()
    assert Invoice.objects.get().total_incl_vat == Decimal("18.25")


def test_a_credit_note_reverses_the_invoice_in_full(invoice):
    note = issue_credit_note(invoice=invoice, reason="wrong tariff applied")

    assert note.number == "CN-000001" and note.kind == InvoiceKind.CREDIT_NOTE
    assert note.credits == invoice
    assert (note.driver_id, note.period, note.currency) == (invoice.driver_id, invoice.period, invoice.currency)
    assert (note.total_excl_vat, note.total_vat, note.total_incl_vat) == (
        Decimal("-16.00"), Decimal("-2.25"), Decimal("-18.25"),
    )
    note_lines = list(note.lines.order_by("id"))
    original_lines = list(invoice.lines.order_by("id"))
    assert [line.cdr_id for line in note_lines] == [line.cdr_id for line in original_lines]
    for credit, original in zip(note_lines, original_lines, strict=True):
        assert credit.credit is True
        assert credit.amount_incl_vat == -original.amount_incl_vat
        assert credit.amount_excl_vat == -original.amount_excl_vat and credit.vat == -original.vat
        assert credit.energy_kwh == -original.energy_kwh
        assert "wrong tariff applied" in credit.description and "INV-000001" in credit.description
    assert note.vat_summary == [
        {"rate": "7.00", "base": "-5.00", "vat": "-0.35"},
        {"rate": "19.00", "base": "-10.00", "vat": "-1.90"},
        {"rate": None, "base": "-1.00", "vat": "0.00"},
    ]
    # The invoice and the invoicing series are untouched.
    assert InvoiceSeries.objects.get(code="INV").next_number == 2
    assert Invoice.objects.get(pk=invoice.pk).total_incl_vat == Decimal("18.25")


def test_an_invoice_is_credited_once(invoice):
    issue_credit_note(invoice=invoice, reason="duplicate session")

    with pytest.raises(CreditNoteError, match="already credited by CN-000001"):
        issue_credit_note(invoice=invoice, reason="again")
    assert numbers(InvoiceKind.CREDIT_NOTE) == ["CN-000001"]


def test_a_credit_note_cannot_be_credited(invoice):
    note = issue_credit_note(invoice=invoice, reason="duplicate session")

    with pytest.raises(CreditNoteError, match="only invoices"):
        issue_credit_note(invoice=note, reason="undo")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 121])
def test_a_credit_note_needs_a_short_reason(invoice, reason):
    with pytest.raises(CreditNoteError):
        issue_credit_note(invoice=invoice, reason=reason)
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()


def test_credit_notes_have_their_own_gapless_series(invoice):
    bob = make_driver("bob@example.com")
    make_cdr(driver=bob, ended_at=datetime(2026, 9, 3, tzinfo=UTC))
    run_invoicing(period="2026-09")
    second = Invoice.objects.get(driver=bob)

    issue_credit_note(invoice=invoice, reason="one")
    issue_credit_note(invoice=second, reason="two")

    assert numbers(InvoiceKind.CREDIT_NOTE) == ["CN-000001", "CN-000002"]
    assert numbers() == ["INV-000001", "INV-000002"]
    # A credited customer's period stays invoiced: a repeated run does not re-invoice it.
    assert run_invoicing(period=OCT).invoices_created == 0


# --- money adds up ------------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("999.99"), places=2)
vat_line = st.tuples(st.sampled_from([None, "0", "7", "19", "20"]), amounts, amounts)
cdr_spec = st.tuples(
    st.integers(min_value=0, max_value=3),  # customer
    st.sampled_from(["EUR", "CHF"]),
    st.integers(min_value=1, max_value=31),  # day of October
    st.lists(vat_line, min_size=1, max_size=3),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cdr_spec, min_size=1, max_size=12))
def test_money_adds_up(specs):
    """Whatever the CDRs, every CDR is on exactly one invoice, each invoice's totals are the sums
    of its lines and of its VAT summary, and the period's invoices add up to its CDRs."""
    with transaction.atomic():
        drivers = [make_driver(f"h{n}@example.com") for n in range(4)]
        cdrs = [
            make_cdr(driver=drivers[who], currency=currency, ended_at=in_october(day),
                     vat_lines=[(rate, str(base), str(vat)) for rate, base, vat in lines])
            for who, currency, day, lines in specs
        ]
        result = run_invoicing(period=OCT)

        assert result.lines_created == len(cdrs)
        assert result.invoices_created == len({(who, currency) for who, currency, _, _ in specs})
        assert sorted(InvoiceLine.objects.values_list("cdr_id", flat=True)) == sorted(c.pk for c in cdrs)
        for invoice in Invoice.objects.prefetch_related("lines"):
            lines = list(invoice.lines.all())
            assert invoice.total_excl_vat == sum(line.amount_excl_vat for line in lines)
            assert invoice.total_vat == sum(line.vat for line in lines)
            assert invoice.total_incl_vat == invoice.total_excl_vat + invoice.total_vat
            assert sum(Decimal(e["base"]) for e in invoice.vat_summary) == invoice.total_excl_vat
            assert sum(Decimal(e["vat"]) for e in invoice.vat_summary) == invoice.total_vat
            rates = [e["rate"] for e in invoice.vat_summary]
            assert len(rates) == len(set(rates))
        for currency in ("EUR", "CHF"):
            invoiced = sum(i.total_incl_vat for i in Invoice.objects.filter(currency=currency))
            charged = sum(c.total_cost_incl_vat for c in cdrs if c.currency == currency)
            assert invoiced == charged
        transaction.set_rollback(True)
