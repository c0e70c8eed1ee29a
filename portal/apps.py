from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Driver portal and live dashboard"

    def ready(self):
        from portal.live import connect_receivers

        connect_receivers()
