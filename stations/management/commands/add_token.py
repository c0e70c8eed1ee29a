from django.core.management.base import BaseCommand, CommandError

from stations.models import IdTokenType
from stations.services.registry import RegistrationError, register_id_token


class Command(BaseCommand):
    help = "Register an authorisation token (RFID card, eMAID, key code, ...)."

    def add_arguments(self, parser):
        parser.add_argument("value")
        parser.add_argument("--driver", help="driver e-mail (created when it does not exist)")
        parser.add_argument("--type", default=IdTokenType.ISO14443, choices=IdTokenType.values)

    def handle(self, *args, value, driver, type, **options):
        try:
            token = register_id_token(value=value, type=type, driver_email=driver)
        except RegistrationError as error:
            raise CommandError(str(error)) from error
        owner = f" for {token.driver.email}" if token.driver else ""
        self.stdout.write(f"Token {token.value} ({token.type}) registered{owner}.")
