"""Labels for the codes the workspace shows (methods, scan windows): screens show labels, the
codes stay in tooltips, downloads and the API."""

from __future__ import annotations

from django import template
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
