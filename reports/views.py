from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from healthwatch.roles import Role, public, role_required


@public
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/home.html")


@role_required(Role.COMMUNITY_REVIEWER, Role.ADMIN)
def review_workspace(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/review_workspace.html")
