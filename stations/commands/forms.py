"""Typed admin forms for station commands, built from each command's parameter serializer.

The serializer (``stations.commands.catalog``) stays the single source of truth for what a
command takes: the form only offers matching widgets (a choice list for a choice, a number
box for a number, the station's EVSEs for ``evse_id``, known tokens for ``id_token``) and
hands the filled-in values to ``send_command``, whose validation reports any error. Every
field is optional here so that the serializer's message, not the browser's, says what is
missing; a free ``key=value`` box takes whatever the typed fields do not cover.
"""

import json
from datetime import UTC
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from rest_framework import serializers

from stations.commands.catalog import COMMANDS, CommandError, parse_key_values

# The commands an operator reaches for first, in the order the station page offers them.
COMMON_COMMANDS = [
    ("reset", "Reset"),
    ("change_availability", "Change availability"),
    ("unlock_connector", "Unlock connector"),
    ("start_session", "Start a session"),
    ("stop_session", "Stop a session"),
    ("trigger_message", "Ask for a message"),
    ("clear_cache", "Clear authorisation cache"),
    ("get_configuration", "Read configuration"),
    ("set_configuration", "Change configuration"),
]

TRIGGERABLE = ["StatusNotification", "BootNotification", "Heartbeat", "MeterValues", "FirmwareStatusNotification",
               "DiagnosticsStatusNotification", "LogStatusNotification", "SignChargingStationCertificate"]


def command_choices() -> list[tuple[str, str]]:
    return [(name, f"{name.replace('_', ' ')} — {spec.description}") for name, spec in COMMANDS.items()]


def _label(name: str) -> str:
    return name.replace("_", " ").replace(" s", " (s)").capitalize() if name != "evse_id" else "EVSE"


class SiteDateTimeField(forms.DateTimeField):
    """A date-time typed in the site's zone (an operator reads the site's clocks), whatever
    zone the request happens to have active; the value comes out aware, in that zone."""

    def __init__(self, *, time_zone: str, **kwargs):
        self.time_zone = time_zone
        super().__init__(**kwargs)

    def to_python(self, value):
        with timezone.override(ZoneInfo(self.time_zone)):
            return super().to_python(value)


def _form_field(name: str, field: serializers.Field, *, evses: list[int], tokens: list[str],
                time_zone: str = "UTC") -> forms.Field:
    common = {"required": False, "label": _label(name), "help_text": field.help_text or ""}
    if name == "evse_id":
        choices = [("", "—")] + [(str(n), f"EVSE {n}") for n in evses]
        if getattr(field, "min_value", 1) == 0:
            choices.insert(1, ("0", "0 — the whole station"))
        return forms.TypedChoiceField(choices=choices, coerce=int, empty_value=None, **common)
    if name == "message":
        return forms.ChoiceField(choices=[("", "—")] + [(m, m) for m in TRIGGERABLE], **common)
    if isinstance(field, serializers.BooleanField):
        return forms.TypedChoiceField(choices=[("", "—"), ("true", "Yes"), ("false", "No")],
                                      coerce=lambda v: v == "true", empty_value=None, **common)
    if isinstance(field, serializers.ChoiceField):
        default = field.default if field.default is not serializers.empty else None
        return forms.ChoiceField(choices=[(c, str(c).replace("_", " ")) for c in field.choices], initial=default,
                                 **common)
    if isinstance(field, serializers.IntegerField):
        return forms.IntegerField(**common)
    if isinstance(field, serializers.DateTimeField):
        common["label"] = f"{common['label']} ({time_zone})"
        common["help_text"] = (f"{common['help_text']}; " if common["help_text"] else "") + \
            f"local time in {time_zone}, sent to the station in UTC"
        return SiteDateTimeField(time_zone=time_zone, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                 **common)
    if isinstance(field, serializers.ListSerializer):  # e.g. a charging profile's periods: one a line
        names = list(field.child.fields)[:3]
        common["help_text"] = (f"one a line: {' '.join(names)} (e.g. '0 16 3', then '3600 10 3'). "
                               f"{common['help_text']}").strip()
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "placeholder": "0 16 3"}), **common)
    if isinstance(field, serializers.ListField):
        return forms.CharField(widget=forms.TextInput(attrs={"placeholder": "comma-separated"}), **common)
    if isinstance(field, (serializers.DictField, serializers.JSONField)):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "placeholder": "JSON"}), **common)
    widget = forms.TextInput(attrs={"list": "known-tokens"}) if name == "id_token" and tokens else None
    return forms.CharField(widget=widget, **common)


def _scalar(text: str):
    """'16' -> 16, '7.5' -> 7.5, 'true' -> True; anything else stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _rows(text: str, names: list[str]) -> list[dict]:
    """Lines of space- or comma-separated values, named in order: the periods of a profile."""
    rows = []
    for line in text.splitlines():
        values = [v for v in line.replace(",", " ").split() if v]
        if values:
            rows.append({name: _scalar(value) for name, value in zip(names, values, strict=False)})
    return rows


class CommandForm(forms.Form):
    """One command with its typed parameters (see the module docstring)."""

    command = forms.ChoiceField(choices=command_choices)
    params = forms.CharField(
        required=False, label="Other parameters",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 50, "placeholder": "key=value, one a line"}),
        help_text="Anything the fields above do not offer, one key=value a line.",
    )

    def __init__(self, *args, command: str | None = None, evses: list[int] = (), tokens: list[str] = (),
                 time_zone: str = "UTC", **kwargs):
        """``time_zone``: the station's site zone, in which date-times are typed."""
        super().__init__(*args, **kwargs)
        self.tokens = list(tokens)
        chosen = command or (self.data.get("command") if self.is_bound else None)
        self.typed: list[str] = []
        spec = COMMANDS.get(chosen or "")
        if spec is None:
            return
        self.fields["command"].initial = chosen
        self.fields["command"].widget = forms.HiddenInput()
        for name, field in spec.params().fields.items():
            if field.read_only or name in self.fields:
                continue
            self.fields[name] = _form_field(name, field, evses=list(evses), tokens=self.tokens, time_zone=time_zone)
            self.typed.append(name)
        self.order_fields(["command", *self.typed, "params"])

    def parameters(self) -> dict:
        """The parameters to send: the typed fields that were filled in, then the free box."""
        params = {}
        spec = COMMANDS[self.cleaned_data["command"]]
        serializer_fields = spec.params().fields
        for name in self.typed:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            if isinstance(serializer_fields[name], serializers.ListSerializer):
                value = _rows(value, list(serializer_fields[name].child.fields)[:3])
            elif isinstance(serializer_fields[name], serializers.ListField):
                value = [_scalar(item.strip()) for item in value.split(",") if item.strip()]
            elif isinstance(serializer_fields[name], (serializers.DictField, serializers.JSONField)):
                try:
                    value = json.loads(value)
                except ValueError as error:
                    raise CommandError("invalid parameters", details={name: [f"not JSON: {error}"]}) from error
            elif hasattr(value, "astimezone"):  # typed in the site's zone; stations get UTC
                value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            params[name] = value
        lines = [line for line in self.cleaned_data.get("params", "").splitlines() if line.strip()]
        params.update(parse_key_values(lines))
        return params
