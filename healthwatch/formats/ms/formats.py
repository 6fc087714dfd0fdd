"""Malay: the month written out and the 24-hour clock.

Django's Malay formats abbreviate the month ("j M Y"), and its catalogue has no Malay
abbreviations, so March came out as the English "Mar"; its times end in the English "p.m.".
The full names are translated (1 Mac 2024), and Malaysia's ministries write times as 15:05.
"""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
TIME_FORMAT = "H:i"
