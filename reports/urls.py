from django.urls import path

from reports import views

app_name = "reports"
release = "reports/<slug:site_code>/<int:year>/v<int:version>/"
urlpatterns = [
    path("", views.home, name="home"),
    path(release, views.public_release, name="public_release"),
    path(release + "comments/", views.public_comment, name="public_comment"),
    path(release + "<str:name>", views.public_download, name="public_download"),
    path("privacy/", views.public_privacy, name="public_privacy"),
    path("methodology/", views.public_methodology, name="public_methodology"),
    path("open-data/", views.public_open_data, name="public_open_data"),
    path("open-data/measurements.csv", views.public_open_data_csv, name="public_open_data_csv"),
    path("open-data/measurements.json", views.public_open_data_json, name="public_open_data_json"),
    path("open-data/api/measurements", views.public_open_data_api, name="public_open_data_api"),
    path("review/", views.review_workspace, name="review_workspace"),
    path("review/releases/", views.release_new, name="release_new"),
    path("review/releases/<int:pk>/", views.release_detail, name="release"),
    path("review/releases/<int:pk>/approve/", views.release_approve, name="release_approve"),
    path("review/releases/<int:pk>/review/", views.release_review, name="release_review"),
    path("review/releases/<int:pk>/publish/", views.release_publish, name="release_publish"),
    path("review/releases/<int:pk>/retract/", views.release_retract, name="release_retract"),
    path("review/releases/<int:pk>/correct/", views.release_correct, name="release_correct"),
    path("review/comments/", views.comment_moderation, name="comment_moderation"),
]
