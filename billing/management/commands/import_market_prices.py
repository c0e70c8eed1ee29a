from django.core.management.base import BaseCommand, CommandError

from billing.market import MarketImportError, import_enabled_feeds, import_feed
from billing.models import MarketPriceFeed


class Command(BaseCommand):
    help = "Import market (day-ahead) prices now: every enabled feed, or one feed by name (optionally from a file)."

    def add_arguments(self, parser):
        parser.add_argument("--feed", help="the feed's name (default: every enabled feed)")
        parser.add_argument("--file", help="read this file instead of the feed's source (with --feed)")

    def handle(self, *args, feed=None, file=None, **options):
        if feed is None:
            if file:
                raise CommandError("--file needs --feed")
            for name, result in import_enabled_feeds().items():
                self.stdout.write(f"{name}: {result if isinstance(result, str) else f'{result} prices'}")
            return
        found = MarketPriceFeed.objects.filter(name=feed).first()
        if found is None:
            raise CommandError(f"no market price feed named {feed!r}")
        try:
            text = open(file, encoding="utf-8-sig").read() if file else None
            count = import_feed(feed=found, text=text)
        except (MarketImportError, OSError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{found.name}: {count} prices")
