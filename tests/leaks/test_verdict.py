"""decide(): FAIL on any leak, INCONCLUSIVE on any other reason, PASS only on nothing."""

from hypothesis import given, strategies as st

from ksaudit.leaks.verdict import FAIL_CODES, INCONCLUSIVE_CODES, Reason, decide

CODES = FAIL_CODES + INCONCLUSIVE_CODES


@given(st.lists(st.sampled_from(CODES), max_size=6), st.booleans())
def test_never_pass_with_a_reason(codes, has_episode):
    v = decide([Reason(c, "m") for c in codes], has_episode=has_episode)
    if any(c in FAIL_CODES for c in codes):
        assert v.status == "FAIL" and v.exit_code == 1
    elif codes or not has_episode:
        assert v.status == "INCONCLUSIVE" and v.exit_code == 3
    else:
        assert v.status == "PASS" and v.exit_code == 0
    assert [r.code for r in v.reasons] == codes


def test_unknown_reason_code_is_refused():
    import pytest
    with pytest.raises(ValueError):
        Reason("looks_fine", "m")
