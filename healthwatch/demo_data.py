"""What `make run` loads after the demo users: every part of HealthWatch that exists.

Each capability adds its step here, so `make run` always shows everything that exists. Every
step is idempotent: a second `make run` reuses what the first one loaded.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test.utils import override_settings

DEMO_RESIDENTS = 3000
DEMO_YEARS = 5
DEMO_SEED = 2026
DEMO_END_YEAR = 2025
IMPORT_ORDER = (
    "sites",
    "areas",
    "population",
    "stations",
    "measurements",
    "residents",
    "observations",
)
NEAR_AREA_KM = 5.0  # worker_a covers the areas within this distance of a site


def demo_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo-community"


def load_community() -> list[str]:
    from surveys.models import Resident
    from surveys.synthetic import generate_community

    if Resident.objects.exists():
        return [f"Demo community already loaded ({Resident.objects.count()} residents)."]
    folder = demo_dir()
    if not (folder / "truth.json").exists():
        generate_community(
            residents=DEMO_RESIDENTS,
            years=DEMO_YEARS,
            seed=DEMO_SEED,
            out_dir=folder,
            end_year=DEMO_END_YEAR,
        )
    # The demo analyses and publishes right after, in this process: no triggered runs needed.
    with override_settings(HEALTHWATCH_ANALYSE_AFTER_IMPORT=False):
        for kind in IMPORT_ORDER:
            call_command("import_csv", kind, str(folder / f"{kind}.csv"), verbosity=0)
    return [
        f"Loaded the synthetic demo community: {DEMO_RESIDENTS} residents over {DEMO_YEARS} "
        f"years (seed {DEMO_SEED}; planted effects in {folder / 'truth.json'})."
    ]


def assign_demo_workers() -> list[str]:
    from surveys.geo import haversine_km
    from surveys.models import Area, AreaAssignment, ProductionSite

    users = get_user_model().objects.filter(username__in=["worker_a", "worker_b"])
    by_name = {u.username: u for u in users}
    if len(by_name) < 2:
        return []
    sites = list(ProductionSite.objects.values_list("latitude", "longitude"))
    lines = []
    for area in Area.objects.all():
        distance = min(
            (haversine_km(area.latitude, area.longitude, lat, lon) for lat, lon in sites),
            default=0.0,
        )
        user = by_name["worker_a" if distance < NEAR_AREA_KM else "worker_b"]
        _, created = AreaAssignment.objects.get_or_create(area=area, user=user)
        if created:
            lines.append(f"Assigned {user.username} to area {area.code} ({distance:.1f} km).")
    return lines or ["Demo health workers already assigned to their areas."]


def run_demo_analysis() -> list[str]:
    from analytics.models import AnalysisRun, RunStatus
    from analytics.services import analysis_run_execute_inline, analysis_run_request

    if AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).exists():
        return ["A finished analysis exists already."]
    run = analysis_run_request(user=None, enqueue=False)
    run = analysis_run_execute_inline(run_id=run.pk)
    return [f"Analysis run #{run.pk}: {run.status}."]


def publish_demo_release() -> list[str]:
    """Build the annual report from the demo analysis, take it through review, publish it."""
    from analytics.models import AnalysisRun, RunStatus
    from reports import services
    from reports.models import Release, ReleaseStatus
    from surveys.models import ProductionSite

    if Release.objects.filter(status=ReleaseStatus.PUBLISHED).exists():
        return ["A published demo report exists already."]
    run = AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).first()
    site = ProductionSite.objects.filter(kind="separation_plant").order_by("code").first()
    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["epi", "reviewer"])
    }
    if run is None or site is None or len(users) < 2:
        return []
    epi, reviewer = users["epi"], users["reviewer"]
    release = services.release_build_draft(
        user=epi, run=run, site_code=site.code, year=DEMO_END_YEAR
    )
    services.release_approve(user=epi, release=release)
    services.release_review(
        user=reviewer,
        release=release,
        decision="approve",
        body="Read with the village health committee; the findings match what people report.",
    )
    release = services.release_publish(user=epi, release_id=release.pk)
    return [f"Published the demo report {site.name} {release.year} v{release.version}."]


def publish_open_data() -> list[str]:
    from reports.models import OpenDataSnapshot
    from reports.services import open_data_snapshot_create
    from surveys.models import Measurement

    latest = OpenDataSnapshot.objects.order_by("-created_at").first()
    if latest is not None and latest.rows == Measurement.objects.count():
        return ["Open environmental data already published."]
    snapshot = open_data_snapshot_create()
    return [f"Published {snapshot.rows} environmental measurements as open data."]


def demo_data_load() -> list[str]:
    """Load demo data; return lines describing what was done. Safe to run repeatedly."""
    lines = load_community()
    lines += assign_demo_workers()
    lines += run_demo_analysis()
    lines += publish_demo_release()
    lines += publish_open_data()
    return lines


def demo_urls(base: str) -> list[str]:
    """Interesting URLs of the demo, printed by `make run`."""
    from analytics.models import Alert, AnalysisRun, RunStatus

    lines = [f"Field workspace (worker_a):  {base}/field/"]
    run = AnalysisRun.objects.filter(status=RunStatus.SUCCEEDED).first()
    if run is not None:
        lines.append(f"Finished analysis (epi):    {base}/analysis/runs/{run.pk}/")
    open_alerts = Alert.objects.filter(status="open").count()
    if open_alerts:
        lines.append(f"Open alerts ({open_alerts}) (epi):     {base}/analysis/")
    from reports.models import Release, ReleaseStatus

    release = (
        Release.objects.filter(status=ReleaseStatus.PUBLISHED).order_by("-published_at").first()
    )
    if release is not None:
        lines.append(
            f"Published report (public): {base}/reports/{release.site_code}/{release.year}/"
            f"v{release.version}/"
        )
    lines.append(f"Open environmental data:    {base}/open-data/")
    return lines
