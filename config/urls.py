"""Root URLs: the admin, login and the HMI."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from hmi import sso_views


class FaviconRedirect(RedirectView):
    """/favicon.ico → the icon's static URL, resolved per request (the manifest's hashed name)."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("hmi/favicon.svg")


urlpatterns = [
    # Pages without the base template's icon link (the admin's) make browsers ask here.
    path("favicon.ico", login_not_required(FaviconRedirect.as_view()), name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/login/", sso_views.sso_login, name="sso_login"),
    path("accounts/sso/callback/", sso_views.sso_callback, name="sso_callback"),
    path("", include("hmi.urls")),
]
