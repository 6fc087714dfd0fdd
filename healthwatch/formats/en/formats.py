"""English: dates no reader can misread, and the 24-hour clock.

English is the working language of teams drawn from many countries, most of which write the
day first: 04/12/2026 would be read as the 4th of December by some and April by others, so the
short formats are ISO (2026-12-04). The long ones spell the month, day first ("4 Dec 2026"),
and times are 15:05 rather than Django's American "3:05 p.m." (and "noon", "midnight").
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
