from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        from billing import receivers  # noqa: F401  (connects to stations.signals)
        from billing.station_commands import register_commands
        from billing.station_tariffs import register_commands as register_tariff_commands

        register_commands()
        register_tariff_commands()
