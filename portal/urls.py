from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from portal import roaming_views, views

app_name = "portal"


def _auth(view, template, **kwargs):
    return view.as_view(template_name=template, **kwargs)


urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("verify/<str:uidb64>/<str:token>/", views.verify, name="verify"),
    path("login/", _auth(auth_views.LoginView, "portal/login.html", redirect_authenticated_user=False,
                         next_page=reverse_lazy("portal:home")), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("portal:login")), name="logout"),
    path("password-reset/", _auth(
        auth_views.PasswordResetView, "portal/password_reset.html",
        email_template_name="portal/password_reset_email.txt",
        subject_template_name="portal/password_reset_subject.txt",
        success_url=reverse_lazy("portal:password_reset_done")), name="password_reset"),
    path("password-reset/sent/", _auth(auth_views.PasswordResetDoneView, "portal/password_reset_done.html"),
         name="password_reset_done"),
    path("password-reset/<str:uidb64>/<str:token>/", _auth(
        auth_views.PasswordResetConfirmView, "portal/password_reset_confirm.html",
        success_url=reverse_lazy("portal:password_reset_complete")), name="password_reset_confirm"),
    path("password-reset/done/", _auth(auth_views.PasswordResetCompleteView, "portal/password_reset_complete.html"),
         name="password_reset_complete"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
    path("sessions/<int:pk>/live.json", views.session_live, name="session_live"),
    path("sessions/<int:pk>/curves/", views.session_curves, name="session_curves"),
    path("sessions/<int:pk>/stop/", views.session_stop, name="session_stop"),
    path("start/", views.start, name="start"),
    path("start/price.json", views.station_price, name="station_price"),
    path("partner-chargers/", roaming_views.partner_chargers, name="partner_chargers"),
    path("partner-chargers/<int:pk>/start/", roaming_views.partner_start, name="partner_start"),
    path("partner-sessions/<int:pk>/stop/", roaming_views.partner_stop, name="partner_stop"),
    path("start/waiting/", views.session_starting, name="session_starting"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/block/", views.token_block, name="token_block"),
    path("tokens/<int:pk>/unblock/", views.token_unblock, name="token_unblock"),
    path("vehicles/", views.vehicles, name="vehicles"),
    path("vehicles/<int:pk>/", views.car_update, name="car_update"),
    path("vehicles/<int:pk>/remove/", views.vehicle_remove, name="vehicle_remove"),
    path("profile/", views.profile, name="profile"),
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
]
