"""Synthetic rare-earth community with planted, known effects (pure numpy/pandas, no Django).

Entry point: :func:`generate_community`. See ``truth.json`` for everything that was planted.
"""

from .community import Truth, generate_community
from .writer import COLUMNS, IMPORT_ORDER

__all__ = ["COLUMNS", "IMPORT_ORDER", "Truth", "generate_community"]
