"""The field UI, mounted at /field/. No page here is public."""

from django.urls import path

from surveys import views

app_name = "surveys"
urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("find/", views.find_resident, name="find_resident"),
    path("residents/new/", views.register_resident, name="register_resident"),
    path("residents/<int:pk>/", views.resident_detail, name="resident"),
    path("residents/<int:pk>/visits/new/", views.visit_create, name="visit_create"),
    path("visits/offline/", views.offline_visit, name="offline_visit"),
    path("outbox/send/", views.outbox_send, name="outbox_send"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("visits/mine/", views.my_visits, name="my_visits"),
    path("visits/<int:pk>/", views.visit_detail, name="visit"),
    path("visits/<int:pk>/edit/", views.visit_edit, name="visit_edit"),
    path("stations/", views.station_list, name="stations"),
    path("stations/new/", views.station_create, name="station_create"),
    path("stations/<int:pk>/", views.station_detail, name="station"),
    path(
        "stations/<int:pk>/measurements/new/", views.measurement_create, name="measurement_create"
    ),
    path("measurements/<int:pk>/status/", views.measurement_status, name="measurement_status"),
    path("audit/", views.audit_list, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/residents/<int:pk>/", views.audit_resident, name="audit_resident"),
    path("audit/visits/<int:pk>/", views.audit_visit, name="audit_visit"),
    path("audit/measurements/<int:pk>/", views.audit_measurement, name="audit_measurement"),
    path("quality/", views.quality_queue, name="quality_queue"),
    path("quality/resolve/", views.quality_resolve, name="quality_resolve"),
    path("quality/<int:pk>/review/", views.quality_review, name="quality_review"),
    path("import/", views.import_upload, name="import"),
    path("import/jobs/<int:pk>/", views.import_job, name="import_job"),
]
