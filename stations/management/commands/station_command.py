"""``manage.py station_command ID COMMAND key=value ...``: send a command, print the answer.

With REDIS_URL set, the command travels over the shared channel layer like any other
caller's. Embedded (in-memory channel layer), the station's connection lives only inside
the server process, so the command goes through that server's REST API instead, as an
operator of your choice.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from stations.commands.catalog import COMMANDS, parse_key_values
from stations.commands.catalog import CommandError as BadParameters
from stations.commands.service import CommandError as InvalidCommand
from stations.commands.service import StationNotFound, send_command


# `make run` notes the address it serves on here (any PORT=/HOST=), for commands run beside it.
SERVER_URL_FILE = settings.BASE_DIR / ".server-url"


def default_server() -> str:
    if os.environ.get("CHARGENET_SERVER_URL"):
        return os.environ["CHARGENET_SERVER_URL"]
    try:
        return SERVER_URL_FILE.read_text().strip() or "http://127.0.0.1:8000"
    except OSError:
        return "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Send a version-neutral command to a connected station and print its answer."

    def add_arguments(self, parser):
        parser.add_argument("station_id")
        parser.add_argument("command", help="one of: " + ", ".join(COMMANDS))
        parser.add_argument("params", nargs="*", metavar="key=value")
        parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer")
        parser.add_argument("--server", default=default_server(),
                            help="embedded mode only: the running server to send it through (default: "
                                 "$CHARGENET_SERVER_URL, else the one `make run` last started, else "
                                 "http://127.0.0.1:8000)")
        parser.add_argument("--user", help="embedded mode only: operator to act as (default: first superuser)")

    def handle(self, *args, station_id, command, params, timeout, server, user, **options):
        try:
            parsed = parse_key_values(params)
        except BadParameters as error:
            raise CommandError(str(error)) from None
        if settings.REDIS_URL:
            answer = self._over_channel_layer(station_id, command, parsed, timeout)
        else:
            answer = self._through_server(server, user, station_id, command, parsed, timeout)
        self.stdout.write(json.dumps(answer, indent=2, default=str))
        if answer.get("outcome") != "accepted":
            raise SystemExit(1)

    def _over_channel_layer(self, station_id, command, params, timeout) -> dict:
        try:
            return send_command(
                station_id=station_id, command=command, params=params, source="cli", timeout=timeout
            ).as_dict()
        except StationNotFound:
            raise CommandError(f"no station {station_id!r}") from None
        except InvalidCommand as error:
            details = f" {json.dumps(error.details)}" if error.details else ""
            raise CommandError(f"{error}{details}") from None

    def _through_server(self, server, username, station_id, command, params, timeout) -> dict:
        User = get_user_model()
        users = User.objects.filter(username=username) if username else User.objects.filter(is_superuser=True)
        operator = users.order_by("pk").first()
        if operator is None:
            raise CommandError("no operator to act as: create a superuser or pass --user")
        token, _ = Token.objects.get_or_create(user=operator)
        body = {"command": command, **params, **({"timeout": timeout} if timeout else {})}
        url = f"{server.rstrip('/')}/api/v1/stations/{urllib.parse.quote(station_id, safe='')}/commands/"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=(timeout or settings.OCPP_COMMAND_TIMEOUT) + 10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
            if error.code in (400, 404):
                raise CommandError(f"{answer.get('detail', answer)} {json.dumps(answer.get('errors') or '')}")
            return answer
        except urllib.error.URLError as error:
            raise CommandError(f"cannot reach the server at {server} ({error.reason}); is it running?") from None
