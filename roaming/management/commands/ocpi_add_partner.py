from django.core.management.base import BaseCommand

from roaming.credentials import add_partner, versions_url
from roaming.models import PartnerRole


class Command(BaseCommand):
    help = "Let a partner register with us: prints the token A to hand over with our versions URL."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", choices=PartnerRole.values, default=PartnerRole.EMSP)

    def handle(self, name, role, **options):
        partner, token_a = add_partner(name=name, role=role)
        self.stdout.write(f"partner {partner.name}: give them\n  versions URL: {versions_url()}\n  token A: {token_a}")
