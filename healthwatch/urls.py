from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from healthwatch import i18n, views
from notifications import views as notification_views

api_v1: list[URLPattern | URLResolver] = [
    path("me/", views.me, name="api-me"),
    path("", include("surveys.api_urls")),
    path("", include("analytics.api_urls")),
    path("", include("reports.api_urls")),
    path("", include("monitoring.api_urls")),
]

urlpatterns = [
    path("", include("reports.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/notifications/",
        notification_views.notification_settings,
        name="notification_settings",
    ),
    path("i18n/setlang/", i18n.set_language, name="set_language"),
    path("workspace/", views.workspace, name="workspace"),
    path("system/", views.system, name="system"),
    path("field/", include("surveys.urls")),
    path("analysis/", include("analytics.urls")),
    path("openrosa/", include("openrosa.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: it runs under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# Under /api/ a URL that matches no route (e.g. /api/v1/visits/0.5/) answers JSON like every
# other API error, not the HTML page.
handler404 = "healthwatch.views.not_found"
