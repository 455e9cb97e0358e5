"""Column-wise wall-clock arithmetic for the fast formats (numpy).

Each distinct wall-clock minute is converted to UTC once, so DST overlaps are
found exactly as ``timeutil.local_to_utc_ns`` finds them.
"""

import numpy as np

from ksaudit.oslogs import timeutil

NS = timeutil.NS
_CUM_DAYS = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype="int64")
_MONTH_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype="int64")


def days_from_civil(year, month, day):
    """Vectorised days since 1970-01-01 (proleptic Gregorian)."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _CUM_DAYS[month] + day - 719163
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return days + ((month > 2) & leap)


def valid_date(year, month, day, hour, minute, second):
    """Boolean mask of real calendar times."""
    ok = (year >= timeutil.MIN_YEAR) & (year <= timeutil.MAX_YEAR) & (month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (second < 61)
    m = np.clip(month, 0, 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    limit = _MONTH_DAYS[m] - ((m == 2) & ~leap)
    return ok & (day <= limit)


def wall_to_utc(zone, year, month, day, hour, minute, second, fraction_ns):
    """Wall times in ``zone`` -> (earliest_ns, latest_ns); they differ in a DST overlap/gap."""
    wall = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) * NS
            + fraction_ns)
    if zone is timeutil._tz.utc or not len(wall):
        return wall, wall.copy()
    minutes, inverse = np.unique(wall // (60 * NS), return_inverse=True)
    o0 = np.empty(len(minutes), "int64")
    o1 = np.empty(len(minutes), "int64")
    for i, mnt in enumerate(minutes.tolist()):
        days, rem = divmod(mnt, 1440)
        y, mo, d = _civil_from_days(days)
        o0[i], o1[i] = timeutil._local_offsets(zone, y, mo, d, rem // 60, rem % 60)
    a = wall - o0[inverse] * NS
    b = wall - o1[inverse] * NS
    return np.minimum(a, b), np.maximum(a, b)


def _civil_from_days(days):
    import datetime as _dt
    d = _dt.date(1970, 1, 1) + _dt.timedelta(days=int(days))
    return d.year, d.month, d.day
