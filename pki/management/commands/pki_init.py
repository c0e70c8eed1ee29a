from django.core.management.base import BaseCommand, CommandError

from pki.services.ca import CaError, ensure_hierarchy


class Command(BaseCommand):
    help = "Create the CA hierarchy (V2G root, CPO and CPS sub-CAs, MO root and sub-CAs, CSMS root) where none exists."

    def handle(self, *args, **options):
        try:
            created = ensure_hierarchy()
        except CaError as error:
            raise CommandError(str(error)) from error
        for ca in created:
            self.stdout.write(f"created {ca.name} (id {ca.pk}): {ca.certificate.subject}")
        if not created:
            self.stdout.write("the CA hierarchy exists; nothing created")
