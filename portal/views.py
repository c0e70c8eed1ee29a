"""The driver portal (/portal/). Every view starts from the signed-in driver: another
driver's session, token or invoice is a 404, whatever its URL."""

import functools

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_POST

from billing.invoice_selectors import invoices_visible_to
from billing.prices import session_cost
from billing.pdf import pdf_filename, render_invoice_pdf
from chargenet import roles
from pki.services.vehicles import VehicleError, register_vehicle
from portal import charts, live, selectors, services
from portal.forms import CarForm, ProfileForm, SessionFilterForm, SignupForm, StartForm, TokenForm, VehicleForm
from roaming import selectors as roaming_selectors
from stations.models import Car, ChargingSession, CommandLog, IdToken, IdTokenStatus, SessionStatus
from stations.services.cars import CarError, create_car


def driver_required(view):
    """Signed in with a driver account; other accounts get a 403 that says where to go."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "portal:login")
        driver = roles.driver_of(request.user)
        if driver is None:
            raise PermissionDenied("This account has no driver profile; the admin is at /admin/.")
        request.driver = driver
        # Times on the driver's pages are in the driver's zone (CSV and API stay UTC).
        timezone.activate(driver.time_zone or "UTC")
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapped


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_up(email=form.cleaned_data["email"], name=form.cleaned_data["name"],
                             password=form.cleaned_data["password1"], build_absolute_uri=request.build_absolute_uri,
                             time_zone=form.cleaned_data.get("time_zone") or "UTC")
        except services.PortalError as error:
            form.add_error("email", str(error))
        else:
            return render(request, "portal/signup_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "portal/signup.html", {"form": form})


def verify(request, uidb64, token):
    user = services.verify_email(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "portal/verify_failed.html", status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Your email address is confirmed. Welcome to ChargeNet.")
    return redirect("portal:home")


@driver_required
def home(request):
    sessions = ChargingSession.objects.filter(driver=request.driver).select_related("station__site", "cdr")
    return render(request, "portal/home.html", {
        "active": sessions.filter(status=SessionStatus.ACTIVE).order_by("-started_at"),
        "roaming_sessions": [s for s in roaming_selectors.roaming_session_rows(request.driver, limit=10)
                             if s.status == "ACTIVE"],
        "recent": sessions.filter(status=SessionStatus.COMPLETED).order_by("-started_at")[:5],
    })


@driver_required
def session_list(request):
    form = SessionFilterForm(request.GET or None, time_zone=request.driver.time_zone or "UTC")
    filters = form.cleaned_data if form.is_valid() else {}
    sessions = selectors.driver_sessions(driver=request.driver, **{k: v for k, v in filters.items() if v})
    page = Paginator(sessions, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/session_list.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "roaming_sessions": roaming_selectors.roaming_session_rows(request.driver),
    })


def _own_session(request, pk) -> ChargingSession:
    session = selectors.session_for(request.user, pk)
    if session is None or session.driver_id != request.driver.pk:
        raise Http404("No such session.")
    return session


def _curves(session) -> dict:
    curve = selectors.session_curve(session)
    return {
        # kW and kWh: the units on the car's display and the invoice.
        "power_chart": charts.line_chart(
            title="Power (kW) over time", unit="kW", css_id="power-chart",
            points=[(p.at, None if p.power_w is None else p.power_w / 1000) for p in curve]),
        "energy_chart": charts.line_chart(
            title="Energy delivered (kWh) over time", unit="kWh", css_id="energy-chart",
            points=[(p.at, None if p.energy_wh is None else p.energy_wh / 1000) for p in curve]),
        "points": curve[::-1][:20],  # the latest first
    }


@driver_required
def session_detail(request, pk):
    session = _own_session(request, pk)
    cost = session_cost(session=session)
    return render(request, "portal/session_detail.html", {
        "session": session, "live": live.session_event(session, cost=cost), "cost": cost, **_curves(session),
    })


@driver_required
def session_curves(request, pk):
    """The curves and readings alone, for the live page to swap in as meter values arrive."""
    return render(request, "portal/session_curves.html", _curves(_own_session(request, pk)))


@driver_required
def session_live(request, pk):
    """The live session page's fallback when its WebSocket fails: polled every few seconds."""
    return JsonResponse(live.session_event(_own_session(request, pk)))


@driver_required
@require_POST
def session_stop(request, pk):
    try:
        result = services.remote_stop(user=request.user, driver=request.driver, session_pk=pk)
    except ChargingSession.DoesNotExist:
        raise Http404("No such session.")
    except services.PortalError as error:
        messages.error(request, str(error))
    else:
        _report(request, result, "Stop requested")
    return redirect("portal:session", pk=pk)


def _report(request, result, what):
    if result.outcome == "accepted":
        messages.success(request, f"{what}: the station accepted.")
    else:
        detail = result.error or result.status or result.outcome
        messages.error(request, f"{what}: the station did not accept ({detail}).")


@driver_required
def start(request):
    tokens = IdToken.objects.filter(driver=request.driver, status=IdTokenStatus.ACCEPTED).order_by("value")
    form = StartForm(request.POST or None, tokens=tokens, initial={"station_id": request.GET.get("station", "")})
    if request.method == "POST" and form.is_valid():
        try:
            result = services.remote_start(user=request.user, driver=request.driver,
                                           station_id=form.cleaned_data["station_id"],
                                           evse_id=form.cleaned_data["evse_id"], token_pk=form.cleaned_data["token"])
        except services.PortalError as error:
            form.add_error(None, str(error))
        else:
            _report(request, result, "Start requested")
            if result.outcome == "accepted":
                # Land on the live session as soon as the station has opened it.
                return redirect(f"{reverse('portal:session_starting')}?command={result.log_id}")
    # A QR code's ?station= link (or the form sent back with an error) shows the price at once.
    station_id = request.POST.get("station_id") or request.GET.get("station", "")
    evse = request.POST.get("evse_id") or request.GET.get("evse") or ""
    price = selectors.price_at_station(station_id=station_id, evse_id=int(evse) if evse.isdigit() else None,
                                       driver=request.driver, language=_language(request)) if station_id else None
    return render(request, "portal/start.html", {"form": form, "has_tokens": tokens.exists(), "price": price})


@driver_required
def station_price(request):
    """The start page asks, as the driver types a station id: what would charging here cost?"""
    evse = request.GET.get("evse") or ""
    if evse and not evse.isdigit():
        return JsonResponse({"error": "evse must be a number"}, status=400)
    evse_id = int(evse) if evse else None
    price = selectors.price_at_station(station_id=request.GET.get("station", ""), evse_id=evse_id,
                                       driver=request.driver, language=_language(request))
    if price is None:
        return JsonResponse({"error": "no price for this station"}, status=404)
    return JsonResponse(price)


def _language(request) -> str:
    return translation.get_language_from_request(request) or "en"


@driver_required
def tokens(request):
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token = services.add_token(driver=request.driver, value=form.cleaned_data["value"],
                                       type=form.cleaned_data["type"])
        except services.PortalError as error:
            form.add_error("value", str(error))
        else:
            messages.success(request, f"Card {token.value} added; you can charge with it now.")
            return redirect("portal:tokens")
    return render(request, "portal/tokens.html", {
        "form": form, "tokens": IdToken.objects.filter(driver=request.driver).select_related("car").order_by("value"),
    })


@driver_required
def session_starting(request):
    """Between an accepted remote start and the station's StartTransaction: waits (the page
    reloads itself), then opens the session the start led to."""
    log = CommandLog.objects.filter(pk=request.GET.get("command") or 0, requested_by=request.user,
                                    command="start_session").select_related("station").first()
    if log is None:
        raise Http404("No such start.")
    session = ChargingSession.objects.filter(
        driver=request.driver, station=log.station, created_at__gte=log.requested_at,
        id_token_value=log.params.get("id_token", ""),
    ).order_by("-created_at").first()
    if session is not None:
        return redirect("portal:session", pk=session.pk)
    waited_s = (timezone.now() - log.requested_at).total_seconds()
    return render(request, "portal/session_starting.html", {"log": log, "given_up": waited_s > 120})


@driver_required
@require_POST
def token_unblock(request, pk):
    try:
        token = services.unblock_token(driver=request.driver, token_pk=pk)
    except IdToken.DoesNotExist:
        raise Http404("No such card.")
    except services.PortalError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Card {token.value} works again.")
    return redirect("portal:tokens")


@driver_required
@require_POST
def token_block(request, pk):
    try:
        token = services.block_token(driver=request.driver, token_pk=pk)
    except IdToken.DoesNotExist:
        raise Http404("No such card.")
    messages.success(request, f"Card {token.value} is blocked.")
    return redirect("portal:tokens")


def _cars_page(request, *, add_form=None, bound: tuple[int, CarForm] | None = None, status: int = 200):
    """The Cars page: each car with its settings form (``bound``: the one just sent back with
    its errors), its Plug & Charge registration, and the form to add a car."""
    driver = request.driver
    cards = services.car_cards(driver)
    cars = []
    for car in Car.objects.filter(driver=driver).select_related("vehicle").order_by("name", "pk"):
        if bound is not None and bound[0] == car.pk:
            form = bound[1]
        else:
            form = CarForm(prefix=f"car-{car.pk}", car=car, cards=cards, initial={
                "name": car.name, "allow_discharge": car.allow_discharge, "min_soc_percent": car.min_soc_percent,
                "min_energy_kwh": car.min_energy_kwh, "battery_capacity_kwh": car.battery_capacity_kwh,
                "cards": [t.pk for t in cards if t.car_id == car.pk],
            })
        vehicle = getattr(car, "vehicle", None)
        cars.append({"car": car, "form": form, "vehicle": vehicle})
    return render(request, "portal/vehicles.html", {"cars": cars, "form": add_form or VehicleForm()}, status=status)


@driver_required
def vehicles(request):
    """The driver's cars: add one (with a PCID it is registered for Plug & Charge and gets its
    contract the next time it plugs in), set each one's V2X permission and minimum charge."""
    form = VehicleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name, pcid = form.cleaned_data["name"], form.cleaned_data["pcid"].strip()
        try:
            if pcid:
                car = register_vehicle(driver=request.driver, pcid=pcid, name=name).car
            else:
                car = create_car(driver=request.driver, name=name)
        except VehicleError as error:
            form.add_error("pcid", str(error))
        except CarError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"{car.name} is registered: plug it in at a Plug & Charge charger and it "
                                      "receives its contract." if pcid else f"{car.name} is added.")
            return redirect("portal:vehicles")
    return _cars_page(request, add_form=form, status=400 if request.method == "POST" else 200)


@driver_required
@require_POST
def car_update(request, pk):
    """One car's settings: V2X permission, minimum charge, the cards that charge it."""
    car = Car.objects.filter(driver=request.driver, pk=pk).first()
    if car is None:
        raise Http404("No such car.")
    form = CarForm(request.POST, prefix=f"car-{car.pk}", car=car, cards=services.car_cards(request.driver))
    if form.is_valid():
        data = form.cleaned_data
        try:
            car = services.save_car(
                driver=request.driver, car_pk=car.pk, name=data["name"], allow_discharge=data["allow_discharge"],
                min_soc_percent=data["min_soc_percent"], min_energy_kwh=data["min_energy_kwh"],
                battery_capacity_kwh=data["battery_capacity_kwh"], card_pks=data["cards"])
        except services.PortalError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"{car.name} is saved: it may feed the site when the site needs it, never "
                                      "below its minimum charge." if car.allow_discharge
                                      else f"{car.name} is saved: it only charges.")
            return redirect("portal:vehicles")
    return _cars_page(request, bound=(car.pk, form), status=400)


@driver_required
@require_POST
def vehicle_remove(request, pk):
    """Remove a car (and its Plug & Charge registration: it gets no new contract)."""
    removed, _ = Car.objects.filter(driver=request.driver, pk=pk).delete()
    if not removed:
        raise Http404("No such car.")
    messages.success(request, "The car is removed; it gets no new contract.")
    return redirect("portal:vehicles")


@driver_required
def invoices(request):
    return render(request, "portal/invoices.html", {
        "invoices": invoices_visible_to(request.user).filter(driver=request.driver).order_by("-issued_at"),
    })


@driver_required
def invoice_pdf(request, pk):
    invoice = invoices_visible_to(request.user).filter(driver=request.driver, pk=pk).first()
    if invoice is None:
        raise Http404("No such invoice.")
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(invoice)}"'
    return response


@driver_required
def profile(request):
    driver = request.driver
    form = ProfileForm(request.POST or None,
                       initial={"name": driver.name, "time_zone": driver.time_zone, "address": driver.address})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_profile(driver=driver, name=form.cleaned_data["name"],
                                    time_zone=form.cleaned_data["time_zone"], address=form.cleaned_data["address"])
        except services.PortalError as error:
            form.add_error("time_zone", str(error))
        else:
            messages.success(request, f"Saved. Times are shown in {driver.time_zone}.")
            return redirect("portal:profile")
    return render(request, "portal/profile.html", {"form": form})
