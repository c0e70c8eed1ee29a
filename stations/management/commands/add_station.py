from django.core.management.base import BaseCommand, CommandError

from stations.models import Site
from stations.services.registry import RegistrationError, register_station


class Command(BaseCommand):
    help = "Register a charging station (its password is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("station_id")
        parser.add_argument("--site", help="name of an existing site (any case)")
        parser.add_argument("--create-site", action="store_true",
                            help="create the --site when no site has this name (a typo otherwise stops here)")
        parser.add_argument("--password", help="HTTP Basic password, 16-40 characters; generated when omitted")
        parser.add_argument("--security-profile", type=int, default=1, choices=[0, 1, 2, 3])

    def handle(self, *args, station_id, site, password, security_profile, create_site=False, **options):
        site_obj = None
        if site:
            matches = list(Site.objects.filter(name__iexact=site.strip()))
            if len(matches) > 1:
                raise CommandError(f"several sites are named {site!r}; rename one in the admin first")
            if matches:
                site_obj = matches[0]
            elif create_site:
                site_obj = Site.objects.create(name=site.strip())
                self.stdout.write(f"Site {site_obj.name!r} created.")
            else:
                known = ", ".join(sorted(Site.objects.values_list("name", flat=True))[:20]) or "none yet"
                raise CommandError(f"no site named {site!r} (known: {known}); add --create-site to create it")
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
