from django.core.management.base import BaseCommand, CommandError

from stations.models import Site
from stations.services.registry import RegistrationError, register_station


class Command(BaseCommand):
    help = "Register a charging station (its password is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("station_id")
        parser.add_argument("--site", help="site name (created when it does not exist)")
        parser.add_argument("--password", help="HTTP Basic password, 16-40 characters; generated when omitted")
        parser.add_argument("--security-profile", type=int, default=1, choices=[0, 1, 2, 3])

    def handle(self, *args, station_id, site, password, security_profile, **options):
        site_obj = Site.objects.get_or_create(name=site, organization=None)[0] if site else None
        try:
            registered = register_station(
                station_id=station_id,
                password=password,
                generate_password=password is None and security_profile in (1, 2),
                site=site_obj,
                security_profile=security_profile,
            )
        except RegistrationError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Station {registered.station.station_id} registered (security profile {security_profile}).")
        if registered.password and password is None:
            self.stdout.write(f"Password (shown once): {registered.password}")
