"""A demo network to look around in: an operator, a site owner, sites, stations, drivers, tokens.

Safe to run again: it creates what is missing and leaves the rest alone.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from stations.models import ChargingStation, Driver, Organization, Site, SiteLoadLimit
from stations.selectors import OPERATORS_GROUP
from stations.services.registry import register_id_token, register_station

SITES = [
    # name, address, postal code, city, country, time zone, lat, lon
    ("Berlin Hauptbahnhof P+R", "Europaplatz 1", "10557", "Berlin", "DE", "Europe/Berlin", "52.525084", "13.369402"),
    ("Munich Riem Offices", "Willy-Brandt-Platz 5", "81829", "Munich", "DE", "Europe/Berlin", "48.135770", "11.690190"),
]

DRIVERS = [
    ("alice@example.com", "Alice Driver", ["04A2B3C4D5E6F7"]),
    ("bob@example.com", "Bob Driver", ["04B0B0B0B0B0B0", "DE*CNT*C00000001*7"]),
]


class Command(BaseCommand):
    help = "Create a demo network: admin and site-owner logins, two sites, stations, drivers and tokens."

    def add_arguments(self, parser):
        parser.add_argument("--stations", type=int, default=4, help="number of DEMO-NN stations")

    @transaction.atomic
    def handle(self, *args, stations, **options):
        User = get_user_model()
        operators, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("Created operator login admin / admin (change it outside a demo).")

        org, _ = Organization.objects.get_or_create(name="Demo Charging Co")
        owner = User.objects.filter(username="owner").first()
        if owner is None:
            owner = User.objects.create_user("owner", "owner@example.com", "owner")
            self.stdout.write("Created site-owner login owner / owner (admin and dashboard of Demo Charging Co).")
        org.members.add(owner)

        sites = []
        for name, address, postal_code, city, country, tz, lat, lon in SITES:
            site, _ = Site.objects.get_or_create(
                organization=org,
                name=name,
                defaults=dict(address=address, postal_code=postal_code, city=city, country=country,
                              time_zone=tz, latitude=lat, longitude=lon),
            )
            sites.append(site)

        for number in range(1, stations + 1):
            station_id = f"DEMO-{number:02d}"
            if not ChargingStation.objects.filter(station_id=station_id).exists():
                register_station(station_id=station_id, generate_password=True, site=sites[(number - 1) % len(sites)])

        for email, name, tokens in DRIVERS:
            driver, _ = Driver.objects.get_or_create(email=email, defaults={"name": name, "time_zone": "Europe/Berlin"})
            if driver.user is None:
                driver.user = User.objects.filter(username=email).first() or User.objects.create_user(
                    email, email, "driver"
                )
                driver.save(update_fields=["user"])
            for value in tokens:
                register_id_token(value=value, driver_email=email, type="eMAID" if "*" in value else "ISO14443")

        # The first site's grid connection is smaller than its chargers: the load manager shares it.
        SiteLoadLimit.objects.get_or_create(site=sites[0], defaults={"max_current_a": 16.0, "min_interval_s": 60})

        self._seed_tariffs(org, sites)
        self._seed_portal_logins(stations)
        invoices = self._seed_last_month(stations)

        self.stdout.write(self.style.SUCCESS(
            f"Demo network ready: {len(sites)} sites, {stations} stations (DEMO-01..DEMO-{stations:02d}), "
            f"{len(DRIVERS)} drivers, {invoices} invoices for last month. Operators group: {operators.name}."
        ))

    def _seed_portal_logins(self, stations):
        """finance / finance (the Finance group: billing only) and driver / driver, the driver
        whose card the simulator charges with at DEMO-01, so the portal shows live sessions."""
        from django.contrib.auth.models import Group

        from chargenet.roles import FINANCE_GROUP
        from stations.management.commands.simulate import fleet_members

        User = get_user_model()
        if not User.objects.filter(username="finance").exists():
            finance = User.objects.create_user("finance", "finance@example.com", "finance", is_staff=True)
            finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
            self.stdout.write("Created finance login finance / finance (invoices and exports).")
        if stations < 1:
            return
        member = fleet_members("DEMO-", stations)[0]
        driver, _ = Driver.objects.get_or_create(email=member.driver_email,
                                                 defaults={"name": "Demo Driver", "time_zone": "Europe/Berlin"})
        card = register_id_token(value=member.id_token, driver_email=member.driver_email)
        if card.car_id is None:  # the Cars page shows a car with its card; it charges only until allowed
            from stations.services.cars import create_car, set_car_tokens

            car = driver.cars.first() or create_car(driver=driver, name="Demo car")
            set_car_tokens(car=car, chosen=[card], offered=[card])
        if driver.user is None:
            user = User.objects.filter(username="driver").first() or User.objects.create_user(
                "driver", member.driver_email, "driver")
            driver.user = user
            driver.save(update_fields=["user"])
            self.stdout.write(f"Created driver login driver / driver (portal; card {member.id_token} at DEMO-01).")

    def _seed_last_month(self, stations: int) -> int:
        """Completed sessions of every demo card in the month before this one, priced and
        invoiced (invoicing takes only ended months), so that finance's list, CSV and PDF and
        the driver's Invoices page show real data at once. The sessions are known by their
        transaction ids (HIST-...) and invoicing skips what it has invoiced: safe to repeat."""
        from datetime import timedelta
        from zoneinfo import ZoneInfo

        from billing.cdrs import create_cdr
        from billing.invoicing import parse_period, previous_period, run_invoicing
        from stations.models import ChargingSession, Evse, IdToken

        if stations < 1:
            return 0
        period = previous_period()
        month_start = parse_period(period).start.astimezone(ZoneInfo("Europe/Berlin"))
        station_list = list(ChargingStation.objects.filter(
            station_id__in=[f"DEMO-{n:02d}" for n in range(1, stations + 1)]).order_by("station_id"))
        tokens = list(IdToken.objects.filter(driver__isnull=False).select_related("driver").order_by("value"))
        number = 0
        for t, token in enumerate(tokens):
            for visit, (day, hour, minutes, kwh) in enumerate([(3, 8, 95, 21.4), (12, 18, 50, 9.8),
                                                               (24, 13, 160, 34.2)]):
                number += 1
                station = station_list[(t + visit) % len(station_list)]
                evse, _ = Evse.objects.get_or_create(station=station, evse_id=1)
                started = month_start.replace(day=day, hour=hour) + timedelta(minutes=7 * t)
                energy_wh = int(kwh * 1000) + 137 * t
                session, created = ChargingSession.objects.get_or_create(
                    station=station, transaction_id=f"HIST-{period}-{number:03d}",
                    defaults=dict(evse=evse, id_token=token, id_token_value=token.value, driver=token.driver,
                                  authorization_status="Accepted", status="Completed", started_at=started,
                                  stopped_at=started + timedelta(minutes=minutes), meter_start_wh=0,
                                  meter_stop_wh=energy_wh, energy_wh=energy_wh, stop_reason="EVDisconnected"),
                )
                if created:
                    create_cdr(session_id=session.pk)
        return run_invoicing(period=period).invoices_created

    def _seed_tariffs(self, org, sites):
        """A network default and the brief's example at the Berlin site: 0.39 EUR/kWh,
        0.49 EUR/kWh 17:00-21:00 on weekdays, 0.10 EUR/min parking after 2 h, 19 % VAT."""
        from billing.models import Tariff
        from billing.tariffs import assign_tariff, create_tariff, set_default_tariff

        if not Tariff.objects.filter(tariff_id="DEFAULT").exists():
            default = create_tariff(ocpi={
                "country_code": "DE", "party_id": "CNT", "id": "DEFAULT", "currency": "EUR", "type": "REGULAR",
                "tariff_alt_text": [{"language": "en", "text": "0.45 EUR/kWh incl. VAT"}],
                "elements": [{"price_components": [{"type": "ENERGY", "price": 0.378, "vat": 19.0, "step_size": 1}]}],
            })
            set_default_tariff(tariff=default)
        if not Tariff.objects.filter(tariff_id="BERLIN-PEAK").exists():
            berlin = create_tariff(organization=org, ocpi={
                "country_code": "DE", "party_id": "CNT", "id": "BERLIN-PEAK", "currency": "EUR", "type": "REGULAR",
                "tariff_alt_text": [{"language": "en", "text": "0.39 EUR/kWh, 0.49 EUR/kWh weekdays 17-21 h, "
                                                              "0.10 EUR/min parking after 2 h (excl. VAT)"}],
                "elements": [
                    {"price_components": [{"type": "ENERGY", "price": 0.49, "vat": 19.0, "step_size": 1}],
                     "restrictions": {"start_time": "17:00", "end_time": "21:00",
                                      "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}},
                    {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1}]},
                    {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 19.0, "step_size": 60}],
                     "restrictions": {"min_duration": 7200}},
                ],
            })
            assign_tariff(tariff=berlin, place=sites[0])
