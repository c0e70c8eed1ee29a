from django.apps import AppConfig


class PkiConfig(AppConfig):
    name = "pki"
    verbose_name = "PKI and Plug & Charge"

    def ready(self):
        from pki import checks  # noqa: F401  (registers the deployment check)
