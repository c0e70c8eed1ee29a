"""The admin's theme (django-admin-interface): ChargeNet's colours from the first page on,
served from this server, and a theme an operator made is left as it is."""

import re

from admin_interface.cache import del_cached_active_theme
from admin_interface.models import Theme


def test_first_admin_page_creates_the_chargenet_theme(admin_client):
    Theme.objects.all().delete()
    del_cached_active_theme()
    html = admin_client.get("/admin/").content.decode()
    theme = Theme.objects.get()
    assert (theme.name, theme.title, theme.css_header_background_color) == ("ChargeNet", "ChargeNet", "#0F2A44")
    assert not (theme.logo_visible or theme.show_fieldsets_as_tabs or theme.related_modal_active
                or theme.list_filter_dropdown or theme.form_submit_sticky)
    assert re.search(r'<body[^>]*class="[^"]*\bchargenet-theme\b', html)
    assert "--admin-interface-header-background-color: #0F2A44;" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # every stylesheet and script is ours


def test_a_theme_made_by_an_operator_keeps_its_own_values(admin_client):
    Theme.objects.all().delete()
    Theme.objects.create(name="Night", css_header_background_color="#000000", language_chooser_active=False)
    del_cached_active_theme()
    html = admin_client.get("/admin/").content.decode()
    assert "--admin-interface-header-background-color: #000000;" in html
    assert list(Theme.objects.values_list("name", flat=True)) == ["Night"]
