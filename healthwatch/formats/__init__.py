"""Date formats where Django's own locale formats do not suit HealthWatch (FORMAT_MODULE_PATH).

French, Portuguese and Chinese use Django's formats unchanged (issue #15: dates shown per
locale): 04/12/2026 and 4 décembre 2026, 2026年12月4日. A module here overrides only the formats it
names; the rest come from Django's module for the language.
"""
