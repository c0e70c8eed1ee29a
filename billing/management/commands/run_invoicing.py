import json

from django.core.management.base import BaseCommand, CommandError

from billing.invoicing import InvalidPeriod
from billing.tasks import run_invoicing


class Command(BaseCommand):
    help = "Invoice a month now: the task Celery beat runs on the 1st, run in this process."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM (default: the previous month, UTC)")

    def handle(self, *args, period, **options):
        try:
            # The task's own body, here and now (not queued): same code, result printed.
            result = run_invoicing(period)
        except InvalidPeriod as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Period {result['period']}: {result['invoices_created']} invoices, "
            f"{result['lines_created']} lines"
            + (f" ({result['first_number']} to {result['last_number']})" if result["invoices_created"] else "")
            + f"; {result['skipped_already_invoiced']} already invoiced, "
            f"{result['skipped_without_customer']} CDRs without a customer, {result['late_cdrs']} late CDRs."
        )
        self.stdout.write(json.dumps(result, sort_keys=True))
