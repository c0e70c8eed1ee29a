from django.apps import AppConfig


class PkiConfig(AppConfig):
    name = "pki"
    verbose_name = "PKI and Plug & Charge"

    def ready(self):
        from pki import checks  # noqa: F401  (registers the deployment check)
        from pki.services.installed import apply_certificate_answer
        from stations.signals import command_answered

        command_answered.connect(apply_certificate_answer, dispatch_uid="pki.installed_certificates")
