from django.core.management.base import BaseCommand, CommandError

from roaming.credentials import register_with
from roaming.envelope import OcpiError


class Command(BaseCommand):
    help = "Register with an OCPI partner: its versions URL and the token A it gave us."

    def add_arguments(self, parser):
        parser.add_argument("versions_url")
        parser.add_argument("token_a")
        parser.add_argument("--name", help="partner name (default: the URL's host)")
        parser.add_argument("--plain-token", action="store_true", help="send our token unencoded (OCPI 2.1.1 peers)")

    def handle(self, versions_url, token_a, name=None, plain_token=False, **options):
        from urllib.parse import urlparse

        name = name or urlparse(versions_url).netloc
        try:
            partner = register_with(name=name, versions_url=versions_url, token_a=token_a,
                                    token_base64=not plain_token)
        except OcpiError as error:
            raise CommandError(str(error))
        self.stdout.write(f"registered with {partner} ({partner.role}); endpoints: "
                          + ", ".join(sorted({e['identifier'] for e in partner.endpoints})))
