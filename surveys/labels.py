"""Vocabulary labels in the reader's language (issue #15): the translations are data
(CodeLabelTranslation, loaded from surveys/data/vocabulary_v*.json, editable in the admin).

English is each code's own label; another language falls back to it for a code that has no
translation. One query per language, cached for a minute and dropped when a translation is
saved or deleted.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import translation

from surveys.models import CodeLabelTranslation

CACHE_SECONDS = 60
ENGLISH = "en"


def _cache_key(language: str, by: str = "code") -> str:
    return f"healthwatch:code-labels:{by}:{language}"


def translated_labels(language: str | None = None) -> dict[str, str]:
    """{code: label} for `language` (default: the active one); empty for English."""
    language = language or translation.get_language() or ENGLISH
    if language == ENGLISH:
        return {}
    key = _cache_key(language)
    labels: dict[str, str] | None = cache.get(key)
    if labels is None:
        labels = dict(
            CodeLabelTranslation.objects.filter(language=language).values_list(
                "code__code", "label"
            )
        )
        cache.set(key, labels, CACHE_SECONDS)
    return labels


def translated_by_english_label(language: str | None = None) -> dict[str, str]:
    """{English label: label in `language`}: for text that stored a label, not its code
    (a data-quality flag's detail). Empty for English."""
    language = language or translation.get_language() or ENGLISH
    if language == ENGLISH:
        return {}
    key = _cache_key(language, by="english")
    labels: dict[str, str] | None = cache.get(key)
    if labels is None:
        labels = dict(
            CodeLabelTranslation.objects.filter(language=language).values_list(
                "code__label", "label"
            )
        )
        cache.set(key, labels, CACHE_SECONDS)
    return labels


def code_label(code: str, english: str, language: str | None = None) -> str:
    """The label of `code` in `language` (the active one), else its English label."""
    return translated_labels(language).get(code, english)


@receiver([post_save, post_delete], sender=CodeLabelTranslation)
def _forget_cached_labels(sender: object, instance: CodeLabelTranslation, **kwargs: object) -> None:
    cache.delete_many([_cache_key(instance.language), _cache_key(instance.language, by="english")])
