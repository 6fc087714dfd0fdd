from django.urls import path, register_converter

from healthwatch.text import IDENTIFIER_PATTERN
from reports import views


class SiteCodeConverter:
    """A site code as the one identifier rule allows it (healthwatch.text)."""

    regex = IDENTIFIER_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class DownloadNameConverter(SiteCodeConverter):
    """A release file name ("indicators_by_area.csv", "release.zip", "release.pdf", "map.svg"):
    anything else (a NUL, a dot-file, a path, another extension) is a 404 before the view or
    the database sees it."""

    regex = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(?:csv|json|zip|pdf|svg)"


register_converter(SiteCodeConverter, "site_code")
register_converter(DownloadNameConverter, "download")

app_name = "reports"
release = "reports/<site_code:site_code>/<int:year>/v<int:version>/"
urlpatterns = [
    path("", views.home, name="home"),
    path(release, views.public_release, name="public_release"),
    path(release + "comments/", views.public_comment, name="public_comment"),
    path(release + "tables/<site_code:name>/", views.public_table, name="public_table"),
    path(release + "<download:name>", views.public_download, name="public_download"),
    path("privacy/", views.public_privacy, name="public_privacy"),
    path("methodology/", views.public_methodology, name="public_methodology"),
    path("open-data/", views.public_open_data, name="public_open_data"),
    path("open-data/measurements.csv", views.public_open_data_csv, name="public_open_data_csv"),
    path("open-data/measurements.json", views.public_open_data_json, name="public_open_data_json"),
    path("open-data/api/measurements", views.public_open_data_api, name="public_open_data_api"),
    path("review/", views.review_workspace, name="review_workspace"),
    path("review/releases/", views.release_new, name="release_new"),
    path("review/releases/<int:pk>/", views.release_detail, name="release"),
    path("review/builds/<int:pk>/", views.release_build, name="release_build"),
    path("review/releases/<int:pk>/approve/", views.release_approve, name="release_approve"),
    path("review/releases/<int:pk>/review/", views.release_review, name="release_review"),
    path("review/releases/<int:pk>/publish/", views.release_publish, name="release_publish"),
    path("review/releases/<int:pk>/retract/", views.release_retract, name="release_retract"),
    path("review/releases/<int:pk>/correct/", views.release_correct, name="release_correct"),
    path("review/comments/", views.comment_moderation, name="comment_moderation"),
]
