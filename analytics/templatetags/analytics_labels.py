"""Labels for the codes the workspace shows (methods, scan windows): screens show labels, the
codes stay in tooltips, downloads and the API."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from analytics import suite

register = template.Library()


def _method_labels() -> dict[str, str]:
    return {
        "ears_c1": _("EARS C1"),
        "ears_c2": _("EARS C2"),
        "ears_c3": _("EARS C3"),
        "farrington_flexible": _("Farrington flexible (Noufaily 2013)"),
        "cusum_standard": _("CUSUM"),
        "cusum_rossi": _("CUSUM (Rossi)"),
        "cusum_anscombe": _("CUSUM (Anscombe)"),
        "glr_poisson": _("GLR Poisson CUSUM"),
    }


@register.filter
def method_label(code: str) -> str:
    """``ears_c3:undetermined`` → "EARS C3 — undetermined (flat baseline)"."""
    undetermined = suite.alert_is_undetermined(code)
    base = code.removesuffix(suite.UNDETERMINED_SUFFIX) if undetermined else code
    label = _method_labels().get(base, base)
    if undetermined:
        return _("%(method)s — undetermined (no variation in the baseline)") % {"method": label}
    return label


@register.filter
def is_undetermined(code: str) -> bool:
    return suite.alert_is_undetermined(code)


def _part_labels() -> dict[str, str]:
    return {
        "rates": _("Rates and age-standardized rates"),
        "trends": _("Trends"),
        "exposure": _("Exposure–response"),
        "biomonitoring": _("Biomonitoring"),
        "environment": _("Environmental monitoring"),
        "aberration": _("Outbreak detection"),
        "scan": _("Spatial clusters"),
    }


@register.filter
def part_label(name: str) -> str:
    return _part_labels().get(name, name)


def _parameter_labels() -> dict[str, str]:
    return {
        "near_km": _("Near band: under (km)"),
        "far_km": _("Far band: from (km)"),
        "per": _("Rates per"),
        "standard": _("Standard population"),
        "pollutant": _("Modelled pollutant for exposure–response"),
        "pollutant_per": _("Exposure–response per (µg/m³)"),
        "conf": _("Confidence level"),
        "aberration_alpha": _("Outbreak detection: false-alarm probability per week"),
        "aberration_threshold": _("Outbreak detection: threshold"),
        "aberration_glr": _("Outbreak detection: GLR CUSUM for slow rises"),
        "scan_max_share": _("Spatial clusters: largest window (share of resident-years)"),
        "scan_replications": _("Spatial clusters: Monte Carlo replications"),
        "scan_alpha": _("Spatial clusters: significance level"),
        "data_end": _("Data complete up to"),
    }


def _parameter_value(name: str, value: object) -> str:
    if value is None:
        return _("the latest visit date") if name == "data_end" else "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name in ("standard", "pollutant"):
        from analytics.forms import RunForm

        choices = dict(RunForm.base_fields[name].choices)  # type: ignore[attr-defined]
        return str(choices.get(value, value))
    if name == "aberration_threshold":
        return {"nbPlugin": _("negative binomial plug-in")}.get(str(value), str(value))
    if isinstance(value, float):  # the locale's decimal separator, no trailing zeros
        return number_format(Decimal(f"{value:g}"))
    return str(value)


@register.filter
def parameter_rows(parameters: dict[str, object] | None) -> list[tuple[str, str, str]]:
    """A run's parameters as (label, value, code) rows, in the run form's order, for people;
    the codes stay in the tooltip and in the API."""
    labels = _parameter_labels()
    given = parameters or {}
    ordered = [k for k in labels if k in given] + sorted(k for k in given if k not in labels)
    return [(labels.get(k, k), _parameter_value(k, given[k]), k) for k in ordered]


@register.filter
def outcome_name(labels: object, code: str) -> str:
    """``{{ labels|outcome_name:alert.outcome }}``: the outcome's label (labels from
    analytics.selectors.chart_labels, read once per page)."""
    outcome = getattr(labels, "outcome", None)
    return outcome(code) if outcome else code


@register.filter
def area_name(labels: object, code: str) -> str:
    area = getattr(labels, "area", None)
    return area(code) if area else code
