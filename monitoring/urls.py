from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.public_stations, name="public_stations"),
    path("stations/<str:code>/", views.public_station, name="public_station"),
    path("open-data.zip", views.public_download, name="public_download"),
    path("complaints/new/", views.public_complaint, name="public_complaint"),
    # A community monitor's pages (the monitor chokepoint lets them reach monitor_* only).
    path("my/", views.monitor_home, name="monitor_home"),
    path("my/samples/new/", views.monitor_sample_new, name="monitor_sample_new"),
    path("my/readings/new/", views.monitor_reading_new, name="monitor_reading_new"),
    path("my/sw.js", views.monitor_sw, name="monitor_sw"),
    # Staff.
    path("lab-results/", views.lab_results, name="lab_results"),
    path("validation/", views.validation, name="validation"),
    path("readings/<int:pk>/correct/", views.reading_correct, name="reading_correct"),
    path("complaints/", views.complaint_moderation, name="complaint_moderation"),
]
