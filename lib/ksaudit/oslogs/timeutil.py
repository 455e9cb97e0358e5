"""Wall-clock text to int64 ns since the epoch, honestly.

Zone-less formats need a declared zone; a wall time inside a repeated DST hour
maps to two instants, so it gets both (the interval is widened and flagged), and
a wall time inside a skipped hour does too (it cannot have been written by a
correct clock, so neither reading is preferred).
"""

from datetime import datetime, timedelta, timezone as _tz, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ksaudit.errors import KsauditError

NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1)
_DAYS_BEFORE_MONTH = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
# Years an event may carry: int64 ns since the epoch spans 1677-2262; these bounds
# leave room for intervals and offsets on top, and no real log is outside them.
MIN_YEAR, MAX_YEAR = 1900, 2199

# Month names (lower case) -> 1..12, as syslog, ctime and ``ts`` stamps write them;
# English first, then the localised names RFC 3164 lines are seen with.
MONTHS = {}
for _names in (
        "jan feb mar apr may jun jul aug sep oct nov dec",          # English
        "jan feb mär apr mai jun jul aug sep okt nov dez",          # German
        "jan feb mrz apr mai jun jul aug sep okt nov dez",          # German (Austria/older)
        "janv févr mars avr mai juin juil août sept oct nov déc",   # French
        "ene feb mar abr may jun jul ago sep oct nov dic"):         # Spanish
    for _i, _n in enumerate(_names.split(), 1):
        MONTHS.setdefault(_n, _i)


def get_zone(name):
    """Return a tzinfo for ``name`` ("UTC", "Europe/Berlin", "+02:00"), or None for None.

    Raises KsauditError for an unknown zone name.
    """
    if name is None or name == "":
        return None
    if isinstance(name, tzinfo):
        return name
    if not isinstance(name, str):
        raise KsauditError(f"timezone must be a zone name or offset text, not {name!r} "
                           f"(in YAML, quote offsets: '+02:00')")
    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return _tz.utc
    if text[:1] in "+-" and len(text) in (5, 6):
        return _tz(timedelta(seconds=parse_offset(text, where=f"timezone {name!r}")))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise KsauditError(f"unknown timezone {name!r} (use an IANA name such as "
                           f"'Europe/Berlin', 'UTC' or an offset like '+02:00')") from exc


def parse_offset(text, where="offset"):
    """'+0200', '+02:00', '-05', 'Z' -> seconds east of UTC."""
    if text in ("Z", "z"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if not digits.isdigit() or len(digits) not in (2, 4):
        raise ValueError(f"bad UTC offset {text!r} in {where}")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    return sign * (hours * 3600 + minutes * 60)


def days_from_civil(year, month, day):
    """Days since 1970-01-01 (proleptic Gregorian), no datetime objects."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + day - 719163
    if month > 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        days += 1
    return days


def naive_ns(year, month, day, hour, minute, second, frac_ns=0):
    """Wall time fields read as if UTC -> ns since epoch."""
    return ((days_from_civil(year, month, day) * 86400
             + hour * 3600 + minute * 60 + second) * NS + frac_ns)


@lru_cache(maxsize=65536)
def _local_offsets(zone, year, month, day, hour, minute):
    """(offset_fold0_s, offset_fold1_s) for a wall-clock minute in ``zone``."""
    wall = datetime(year, month, day, hour, minute)
    o0 = wall.replace(tzinfo=zone, fold=0).utcoffset()
    o1 = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return int(o0.total_seconds()), int(o1.total_seconds())


def local_to_utc_ns(zone, year, month, day, hour, minute, second, frac_ns=0):
    """Wall time in ``zone`` -> (earliest_ns, latest_ns).

    The two differ only inside a repeated (or skipped) DST hour: the caller
    widens the event's interval to cover both readings and flags it ambiguous.
    """
    wall_ns = naive_ns(year, month, day, hour, minute, second, frac_ns)
    if zone is _tz.utc:
        return wall_ns, wall_ns
    o0, o1 = _local_offsets(zone, year, month, day, hour, minute)
    a, b = wall_ns - o0 * NS, wall_ns - o1 * NS
    return (a, b) if a <= b else (b, a)


def check_date(year, month, day, hour, minute, second):
    """Raise ValueError when the fields are not a real calendar time (or the year
    is outside MIN_YEAR..MAX_YEAR)."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} outside {MIN_YEAR}-{MAX_YEAR}")
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError("field out of range")
    if day > 28:
        datetime(year, month, day)  # raises for Feb 30 etc.


def frac_ns(frac):
    """Fraction digits (str/bytes, may be empty) -> (ns, quantum_ns)."""
    if not frac:
        return 0, NS
    digits = len(frac)
    if digits > 9:
        frac, digits = frac[:9], 9
    return int(frac) * 10 ** (9 - digits), 10 ** (9 - digits)


def iso_to_ns(y, mo, d, h, mi, s, frac, offset):
    """ISO 8601 fields with an explicit offset ('Z', '+0200', '+02:00') -> (ns, quantum)."""
    check_date(int(y), int(mo), int(d), int(h), int(mi), int(s))
    f_ns, quantum = frac_ns(frac)
    off = parse_offset(offset.decode() if isinstance(offset, bytes) else offset)
    return naive_ns(int(y), int(mo), int(d), int(h), int(mi), int(s), f_ns) - off * NS, quantum


MIN_NS = naive_ns(MIN_YEAR, 1, 1, 0, 0, 0)
MAX_NS = naive_ns(MAX_YEAR + 1, 1, 1, 0, 0, 0)   # exclusive
