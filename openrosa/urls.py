from django.urls import path

from openrosa import views

app_name = "openrosa"

urlpatterns = [
    path("formList", views.form_list, name="form_list"),
    path("forms/<str:form_id>/form.xml", views.form_download, name="form"),
    path("forms/<str:form_id>/manifest", views.manifest, name="manifest"),
    path("submission", views.submission, name="submission"),
    path("held/", views.held_queue, name="held_queue"),
]
