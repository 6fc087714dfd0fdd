"""English: ISO dates in the short formats, not Django's American m/d/Y.

English is the working language of teams drawn from many countries, most of which write the
day first: 04/12/2026 would be read as the 4th of December by some and April by others. ISO
(2026-12-04) cannot be misread. The long formats ("Dec. 4, 2026") spell the month and stay.
"""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
