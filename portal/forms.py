from decimal import Decimal

from django import forms
from django.contrib.auth.password_validation import validate_password

from portal.services import DRIVER_TOKEN_TYPES
from stations.models import SessionStatus


class SignupForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label="Your name")
    email = forms.EmailField(label="Email address", help_text="We send a link to confirm it.")
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Password again",
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    # Filled in by the page from the browser's own zone (Intl API); UTC without JavaScript.
    time_zone = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-browser-zone": ""}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif cleaned.get("password1"):
            try:
                validate_password(cleaned["password1"])
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class SessionFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    where = forms.CharField(required=False, max_length=100, label="Where", help_text="station, site or city")
    min_energy_kwh = forms.DecimalField(required=False, min_value=0, max_digits=8, decimal_places=1,
                                        label="At least (kWh)")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *SessionStatus.choices], label="Status")

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        """The dates are whole days in the driver's zone; the form says which."""
        super().__init__(*args, **kwargs)
        for name in ("date_from", "date_to"):
            self.fields[name].help_text = f"day in {time_zone}"


def _plain(code: str) -> str:
    from portal.templatetags.portal_extras import plain

    return plain(code)


class TokenForm(forms.Form):
    value = forms.CharField(max_length=36, label="Card number", help_text="as printed on the card, e.g. 04A2B3C4D5E6F7")
    type = forms.ChoiceField(choices=lambda: [(t.value, _plain(t.value)) for t in DRIVER_TOKEN_TYPES],
                             label="Card type")


class StartForm(forms.Form):
    station_id = forms.CharField(max_length=48, label="Station", help_text="the id printed on the charger")
    evse_id = forms.IntegerField(required=False, min_value=1, label="Charge point number",
                                 help_text="leave empty to let the station choose")
    token = forms.TypedChoiceField(coerce=int, label="Charge with card")

    def __init__(self, *args, tokens=(), **kwargs):
        super().__init__(*args, **kwargs)
        from portal.templatetags.portal_extras import plain

        self.fields["token"].choices = [(t.pk, f"{t.value} ({plain(t.type)})") for t in tokens]


class VehicleForm(forms.Form):
    """Add a car; with a PCID it is registered for Plug & Charge too."""

    name = forms.CharField(label="Name", max_length=100, required=False,
                           help_text="e.g. Family car. Empty with a PCID: the PCID.")
    pcid = forms.CharField(label="PCID (Plug & Charge, optional)", max_length=18, required=False,
                           help_text="The car's provisioning certificate ID: 14 to 18 letters and digits, "
                                     "in the car's Plug & Charge menu or papers.")

    def clean(self):
        data = super().clean()
        if not data.get("name", "").strip() and not data.get("pcid", "").strip():
            self.add_error("name", "Name the car (or give its PCID).")
        return data


class CarForm(forms.Form):
    """One car on the Cars page: V2X permission, minimum charge, the cards that charge it."""

    name = forms.CharField(label="Name", max_length=100)
    allow_discharge = forms.BooleanField(
        label="Allow discharge", required=False,
        help_text="When the site needs it, this car may feed it (OCPP 2.1 chargers, ISO 15118-20 cars). It always "
                  "leaves with the energy it asked for by its departure time.")
    min_soc_percent = forms.IntegerField(
        label="Minimum charge (%)", required=False, min_value=0, max_value=100,
        help_text="Never discharged below this state of charge.")
    min_energy_kwh = forms.DecimalField(
        label="Minimum charge (kWh)", required=False, min_value=0, max_value=Decimal("9999.9"), decimal_places=1,
        help_text="Never discharged below this much energy in the battery.")
    battery_capacity_kwh = forms.DecimalField(
        label="Battery (kWh)", required=False, min_value=1, max_value=Decimal("9999.9"), decimal_places=1,
        help_text="Its usable capacity: needed for a minimum charge when the charger does not report it.")
    cards = forms.TypedMultipleChoiceField(
        label="Cards used with this car", coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="A session with one of these cards is this car's. A card on no car only ever charges.")

    def __init__(self, *args, car=None, cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        from portal.templatetags.portal_extras import plain

        def label(token) -> str:
            elsewhere = token.car is not None and token.car != car
            return f"{token.value} ({plain(token.type)}{f', now on {token.car.name}' if elsewhere else ''})"

        self.fields["cards"].choices = [(t.pk, label(t)) for t in cards]


def time_zone_choices() -> list[tuple[str, str]]:
    from zoneinfo import available_timezones

    return [(name, name.replace("_", " ")) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label="Your name")
    time_zone = forms.ChoiceField(choices=time_zone_choices, label="Time zone",
                                  help_text="The portal shows every time in this zone.")
    address = forms.CharField(required=False, max_length=500, label="Postal address",
                              widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "street-address"}),
                              help_text="Printed on your invoices: street, postcode and city, country.")
