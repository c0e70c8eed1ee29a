import json

from django.core.management.base import BaseCommand, CommandError

from stations.commands.catalog import COMMANDS
from stations.commands.service import CommandError as InvalidCommand
from stations.commands.service import StationNotFound, send_command


def parse_value(raw: str):
    """key=value values: JSON where it parses (numbers, booleans, lists, objects), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Command(BaseCommand):
    help = "Send a version-neutral command to a connected station and print its answer."

    def add_arguments(self, parser):
        parser.add_argument("station_id")
        parser.add_argument("command", help="one of: " + ", ".join(COMMANDS))
        parser.add_argument("params", nargs="*", metavar="key=value")
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer")

    def handle(self, *args, station_id, command, params, timeout, **options):
        parsed = {}
        for item in params:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"parameters are key=value, not {item!r}")
            parsed[key] = parse_value(value)
        # IDs and tokens stay text even when they look like numbers.
        for key in ("id_token", "transaction_id", "key", "value", "vendor_id", "message_id", "message"):
            if key in parsed and not isinstance(parsed[key], str):
                parsed[key] = json.dumps(parsed[key])
        try:
            result = send_command(station_id=station_id, command=command, params=parsed, source="cli", timeout=timeout)
        except StationNotFound:
            raise CommandError(f"no station {station_id!r}") from None
        except InvalidCommand as error:
            details = f" {json.dumps(error.details)}" if error.details else ""
            raise CommandError(f"{error}{details}") from None
        self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
        if result.outcome not in ("accepted",):
            raise SystemExit(1)
