"""Concurrent invoicing runs: each thread has its own database connection and transaction.

On PostgreSQL the series row lock makes the second run wait for the first and then find its
invoices; on SQLite ``BEGIN IMMEDIATE`` serialises the two transactions (the settings' busy
timeout lets the second wait instead of failing). Either way: no duplicates, no gaps.
"""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections, transaction

from billing.invoicing import issue_credit_note, run_invoicing
from billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceSeries
from tests.billing.invoice_data import make_cdr, make_driver, make_station

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = 12


@pytest.fixture
def series():
    """The series as they are after the first run ever: the lock, not the series' creation, has
    to keep concurrent runs apart."""
    return [InvoiceSeries.objects.create(code=code) for code in ("INV", "CN")]


@pytest.fixture
def customers(series):
    station = make_station()
    drivers = [make_driver(f"c{n}@example.com") for n in range(CUSTOMERS)]
    for driver in drivers:
        for day in (3, 17):
            make_cdr(driver=driver, station=station, ended_at=datetime(2026, 10, day, tzinfo=UTC))
            make_cdr(driver=driver, station=station, ended_at=datetime(2026, 9, day, tzinfo=UTC))
    return drivers


def run_together(*jobs, timeout: float = 60) -> list:
    """Start the jobs at the same instant, each on its own thread (so its own connection);
    return their results or exceptions, in order."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def work(index, job):
        try:
            barrier.wait()
            outcomes[index] = job()
        except BaseException as error:  # noqa: BLE001  (reported to the test)
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a run did not finish: deadlock?"
    return outcomes


def sequences(kind=InvoiceKind.INVOICE) -> list[int]:
    return list(Invoice.objects.filter(kind=kind).order_by("sequence").values_list("sequence", flat=True))


@pytest.mark.parametrize("first_run_ever", [False, True])
def test_two_concurrent_runs_of_a_period_invoice_it_once_without_gaps(customers, first_run_ever):
    if first_run_ever:
        InvoiceSeries.objects.all().delete()
    first, second = run_together(lambda: run_invoicing(period="2026-10"), lambda: run_invoicing(period="2026-10"))

    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    assert sorted([first.invoices_created, second.invoices_created]) == [0, CUSTOMERS]
    assert first.lines_created + second.lines_created == 2 * CUSTOMERS
    assert sequences() == list(range(1, CUSTOMERS + 1))
    assert Invoice.objects.values("driver").distinct().count() == CUSTOMERS
    assert InvoiceLine.objects.count() == 2 * CUSTOMERS


def test_concurrent_runs_of_different_periods_share_the_series_without_gaps(customers):
    outcomes = run_together(
        lambda: run_invoicing(period="2026-10"),
        lambda: run_invoicing(period="2026-09"),
        lambda: run_invoicing(period="2026-10"),
    )

    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    assert sum(o.invoices_created for o in outcomes) == 2 * CUSTOMERS
    assert sequences() == list(range(1, 2 * CUSTOMERS + 1))
    numbers = list(Invoice.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers))


def test_a_failing_run_beside_a_successful_one_leaves_no_gap(customers):
    def failing():
        with transaction.atomic():
            run_invoicing(period="2026-09")
            raise RuntimeError("crash after taking numbers")

    outcomes = run_together(failing, lambda: run_invoicing(period="2026-10"))

    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1].invoices_created == CUSTOMERS
    assert sequences() == list(range(1, CUSTOMERS + 1))
    assert run_invoicing(period="2026-09").first_number == f"INV-{CUSTOMERS + 1:06d}"
    assert sequences() == list(range(1, 2 * CUSTOMERS + 1))


def test_concurrent_credit_notes_for_one_invoice_issue_one(customers):
    run_invoicing(period="2026-10")
    invoice = Invoice.objects.order_by("sequence").first()
    other = Invoice.objects.order_by("sequence").last()

    outcomes = run_together(
        lambda: issue_credit_note(invoice=invoice, reason="first"),
        lambda: issue_credit_note(invoice=invoice, reason="second"),
        lambda: issue_credit_note(invoice=other, reason="third"),
    )

    notes = [o for o in outcomes if isinstance(o, Invoice)]
    assert len(notes) == 2, outcomes
    assert sequences(InvoiceKind.CREDIT_NOTE) == [1, 2]
    assert Invoice.objects.filter(credits=invoice).count() == 1


def test_a_second_run_waits_for_the_first_to_commit_and_then_finds_its_invoices(customers):
    first_ran, release = threading.Event(), threading.Event()
    second_done = threading.Event()

    def first():
        with transaction.atomic():
            result = run_invoicing(period="2026-10")
            first_ran.set()
            release.wait(30)  # holds the series lock (SQLite: the write lock) until released
        return result

    def second():
        first_ran.wait(30)
        result = run_invoicing(period="2026-10")
        second_done.set()
        return result

    def referee():
        first_ran.wait(30)
        waited = not second_done.wait(1.0)  # the second run must still be blocked
        release.set()
        return waited

    outcomes = run_together(first, second, referee)

    assert outcomes[2] is True, "the second run did not wait for the first"
    assert outcomes[0].invoices_created == CUSTOMERS
    assert (outcomes[1].invoices_created, outcomes[1].skipped_already_invoiced) == (0, CUSTOMERS)
    assert sequences() == list(range(1, CUSTOMERS + 1))
