from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("runs/", views.run_start, name="run_start"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/status.json", views.run_status, name="run_status"),
    path("results/<int:result_set_id>/<slug:analysis>.csv", views.result_csv, name="result_csv"),
    path("outcomes/<str:outcome>/", views.outcome_detail, name="outcome"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
]
