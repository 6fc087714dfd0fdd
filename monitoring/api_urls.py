"""API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path

from monitoring import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("lab-results/", views.api_lab_results, name="api-lab-results"),
]
