from django.contrib.admin.apps import AdminConfig


class ChargeNetAdminConfig(AdminConfig):
    """The admin with ChargeNet's role-scoped site (``chargenet.admin_site``)."""

    default_site = "chargenet.admin_site.ChargeNetAdminSite"
