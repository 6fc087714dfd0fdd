"""Signals other apps listen to, so that surveys never imports them."""

from django.dispatch import Signal

# Sent after a CSV import that created rows has committed: kwargs record_id, kind.
data_imported = Signal()
