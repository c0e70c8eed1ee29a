"""The admin's look: django-admin-interface's Theme, in ChargeNet's colours by default.

django-admin-interface creates its first Theme row itself (with Django's green, title and
logo) the first time an admin page renders on an empty table. ``default_to_chargenet``
makes that first row ChargeNet's instead, so a fresh or flushed database looks the same
as the demo, with no data migration to keep in step; operators may still edit the row
(Users → Admin theme) or add others.

Only options that restyle Django's own markup are on. Tabs, the related-object modal,
dropdown filters, foldable sections and sticky form bars are off: they hide or move
elements that operators (and the browser tests) reach directly on the page.
"""

CHARGENET_THEME = {
    "name": "ChargeNet",
    "title": "ChargeNet",
    "title_color": "#FFFFFF",
    "title_visible": True,
    "logo_visible": False,  # the theme's default logo is Django's
    "env_visible_in_header": False,
    "env_visible_in_favicon": False,
    "language_chooser_active": False,
    "css_header_background_color": "#0F2A44",
    "css_header_text_color": "#FFFFFF",
    "css_header_link_color": "#FFFFFF",
    "css_header_link_hover_color": "#80B5FF",
    "css_module_background_color": "#0B6BCB",
    "css_module_background_selected_color": "#E8F1FB",
    "css_module_text_color": "#FFFFFF",
    "css_module_link_color": "#FFFFFF",
    "css_module_link_selected_color": "#FFFFFF",
    "css_module_link_hover_color": "#DCEBFA",
    "css_module_rounded_corners": True,
    "css_generic_link_color": "#0B6BCB",
    "css_generic_link_hover_color": "#084F96",
    "css_generic_link_active_color": "#0B6BCB",
    "css_save_button_background_color": "#0B6BCB",
    "css_save_button_background_hover_color": "#084F96",
    "css_save_button_text_color": "#FFFFFF",
    "css_delete_button_background_color": "#B42318",
    "css_delete_button_background_hover_color": "#8F1C13",
    "css_delete_button_text_color": "#FFFFFF",
    "related_modal_active": False,
    "list_filter_highlight": True,
    "list_filter_dropdown": False,
    "list_filter_sticky": False,
    "list_filter_removal_links": False,
    "foldable_apps": False,
    "show_fieldsets_as_tabs": False,
    "show_inlines_as_tabs": False,
    "collapsible_stacked_inlines": False,
    "collapsible_tabular_inlines": False,
    "recent_actions_visible": True,
    "form_actions_sticky": False,
    "form_submit_sticky": False,
    "form_pagination_sticky": False,
}


def default_to_chargenet(sender, instance, raw=False, **kwargs) -> None:
    """pre_save of Theme: the first theme created with the package's defaults (its name is
    still "Django") becomes ChargeNet's."""
    if raw or not instance._state.adding or instance.name != "Django" or sender.objects.exists():
        return
    for field, value in CHARGENET_THEME.items():
        setattr(instance, field, value)


def install() -> None:
    from admin_interface.models import Theme
    from django.db.models.signals import pre_save

    pre_save.connect(default_to_chargenet, sender=Theme, dispatch_uid="chargenet_admin_theme")
