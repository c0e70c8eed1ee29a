from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ChargeNetAdminConfig(AdminConfig):
    """The admin with ChargeNet's role-scoped site (``chargenet.admin_site``)."""

    default_site = "chargenet.admin_site.ChargeNetAdminSite"

    def ready(self):
        super().ready()
        from chargenet import admin_theme
        from chargenet.admin_site import guard_readonly_links

        guard_readonly_links()
        admin_theme.install()


class ChargeNetConfig(AppConfig):
    """The project itself, above every app: commands that span them all (``seed_demo``)."""

    name = "chargenet"
    verbose_name = "ChargeNet"
