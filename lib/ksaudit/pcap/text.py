"""Evidence text for dissect: bytes or str as one printable, capped line."""

NAME_CAP = 253          # longest DNS name / host name kept
TEXT_CAP = 1000         # longest summary / answer list kept


def clean_text(value, cap: int = NAME_CAP) -> str:
    """`value` as text: UTF-8 (bad bytes replaced), control characters as
    ``\\xNN``, at most `cap` characters (a cut ends in an ellipsis)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    out = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c) & 0xff:02x}"
                  if ord(c) < 0x100 else "\ufffd" for c in str(value))
    return out if len(out) <= cap else out[:cap - 1] + "\u2026"
