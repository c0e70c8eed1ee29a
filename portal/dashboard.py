"""The live dashboard in the admin (/admin/dashboard/): operators see the network, site owners
their organisations' stations. Served through the admin site's ``admin_view`` (signed in,
admin role); finance and anyone else without stations get a 403."""

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse

from chargenet import roles
from portal import charts, selectors


def _check(request):
    if not roles.may_use_dashboard(request.user):
        raise PermissionDenied("The dashboard is for operators and site owners.")


def dashboard_view(request):
    from django.contrib import admin

    _check(request)
    energy = selectors.energy_per_day(request.user)
    utilisation = selectors.utilisation_per_day(request.user)
    stations = selectors.dashboard_stations(request.user)
    charging = selectors.charging_now([s.pk for s in stations])
    from chargenet.overview import overview_for

    context = {
        **admin.site.each_context(request),
        "overview": overview_for(request, admin.site),
        "title": "Live dashboard",
        "stations": [(station, selectors.station_health(station), charging[station.pk]) for station in stations],
        "energy": energy,
        "utilisation": utilisation,
        "energy_chart": charts.bar_chart(title="Energy delivered per day (kWh)", unit="kWh",
                                         labels=[f"{d:%d.%m}" for d, _ in energy], values=[v for _, v in energy],
                                         css_id="energy-per-day"),
        "utilisation_chart": charts.bar_chart(title="Utilisation per day (% of connector time)", unit="%",
                                              labels=[f"{d:%d.%m}" for d, _ in utilisation],
                                              values=[v * 100 for _, v in utilisation], css_id="utilisation"),
    }
    return TemplateResponse(request, "dashboard/dashboard.html", context)


def dashboard_state_view(request):
    """What the WebSocket would push, for the page to poll when the socket fails."""
    _check(request)
    return JsonResponse(selectors.dashboard_state(request.user))
