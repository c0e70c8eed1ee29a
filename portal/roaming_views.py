"""The driver's side of roaming in the portal: partner chargers (live availability and our
price there), a remote start on one, and their sessions on partner networks."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.views import driver_required
from roaming import remote, selectors


@driver_required
def partner_chargers(request):
    query = (request.GET.get("q") or "").strip()
    locations = selectors.partner_locations()
    if query:
        locations = locations.filter(city__icontains=query) | locations.filter(name__icontains=query)
    return render(request, "portal/partner_chargers.html", {
        "locations": selectors.location_summaries(locations[:200]), "q": query,
    })


@driver_required
@require_POST
def partner_start(request, pk):
    location = selectors.partner_locations().filter(pk=pk).first()
    if location is None:
        raise Http404("No such partner charger.")
    try:
        remote.start_session(driver=request.driver, location=location,
                             evse_uid=request.POST.get("evse_uid") or None)
    except remote.RemoteError as error:
        messages.error(request, f"Could not start: {error}")
        return redirect("portal:partner_chargers")
    messages.success(request, f"Start requested at {location.name} ({location.partner.name}). "
                              "Your session appears under Sessions once the charger starts.")
    return redirect("portal:sessions")


@driver_required
@require_POST
def partner_stop(request, pk):
    session = selectors.roaming_sessions_of(request.driver).filter(pk=pk, status="ACTIVE").first()
    if session is None:
        raise Http404("No such running session.")
    try:
        remote.stop_session(driver=request.driver, session=session)
    except remote.RemoteError as error:
        messages.error(request, f"Could not stop: {error}")
    else:
        messages.success(request, f"Stop requested at {session.partner.name}.")
    return redirect("portal:sessions")
