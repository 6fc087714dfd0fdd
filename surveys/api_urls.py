"""API routes of this app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from surveys import api

router = SimpleRouter()
router.register("sites", api.SiteViewSet, basename="site")
router.register("areas", api.AreaViewSet, basename="area")
router.register("codes", api.VocabularyCodeViewSet, basename="code")
router.register("residents", api.ResidentViewSet, basename="resident")
router.register("visits", api.VisitViewSet, basename="visit")
router.register("observations", api.ObservationViewSet, basename="observation")
router.register("stations", api.StationViewSet, basename="station")
router.register("measurements", api.MeasurementViewSet, basename="measurement")
router.register("quality-flags", api.QualityFlagViewSet, basename="quality-flag")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("imports/", api.ImportView.as_view(), name="import"),
    path("imports/<int:pk>/", api.ImportJobView.as_view(), name="import-job"),
]
