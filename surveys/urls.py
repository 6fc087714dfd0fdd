from django.urls import path

from surveys import views

app_name = "surveys"
urlpatterns = [
    path("", views.workspace, name="workspace"),
]
