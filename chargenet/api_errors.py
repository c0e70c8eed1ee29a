"""How the REST API answers what it cannot find or filter, for every endpoint at once.

- A 404 says "Not found." and the path's kind of object, never Django's "No ChargingStation
  matches the given query." (which names an internal class, and differs between a missing
  object and one the caller may not see; both are the same 404 here).
- A choice filter (``?status=active``) takes any case, and a value that is no choice is a 400
  that lists the choices.
"""

from django.http import Http404
from django_filters import ChoiceFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    return drf_exception_handler(exc, context)


def _choices(filter_) -> list[str]:
    choices = filter_.extra.get("choices") or []
    if callable(choices):
        choices = choices()
    return [str(value) for value, _ in choices if value not in ("", None)]


class ChoiceFriendlyFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose choice filters match case-insensitively and list their choices."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return kwargs
        data, errors = kwargs["data"].copy(), {}
        for name, filter_ in filterset_class.base_filters.items():
            value = data.get(name)
            # Fixed choices only: a ModelChoiceFilter (a ChoiceFilter too) takes ids.
            if not isinstance(filter_, ChoiceFilter) or "choices" not in filter_.extra or value in (None, ""):
                continue
            choices = _choices(filter_)
            canonical = {choice.lower(): choice for choice in choices}
            if value.lower() in canonical:
                data[name] = canonical[value.lower()]
            else:
                errors[name] = [f"{value!r} is not one of: {', '.join(choices)}"]
        if errors:
            raise ValidationError(errors)
        kwargs["data"] = data
        return kwargs
