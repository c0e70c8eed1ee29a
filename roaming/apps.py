from django.apps import AppConfig


class RoamingConfig(AppConfig):
    name = "roaming"
    verbose_name = "Roaming (OCPI)"

    def ready(self):
        from roaming import (
            receivers,  # noqa: F401  (connects to stations and billing signals)
            tasks,  # noqa: F401  (registers the background jobs in roaming.jobs)
        )
