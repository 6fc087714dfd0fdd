from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from healthwatch.roles import Role, role_required


@role_required(Role.EPIDEMIOLOGIST, Role.ADMIN)
def workspace(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/workspace.html")
