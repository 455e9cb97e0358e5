"""scenario.yaml ``incomplete`` / ``incomplete_reason`` / ``notes`` (what `ksaudit record`
writes when a run is cut short): analyze never passes an incomplete recording, still
fails one that leaked, and lists the notes.  On copies of the shipped lab samples."""

import shutil
from pathlib import Path

import pytest

import ksaudit
from ksaudit.errors import KsauditError
from ksaudit.scenario import load_scenario

SAMPLES = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab"


def copy_with(tmp_path, sample, extra):
    out = tmp_path / sample
    shutil.copytree(SAMPLES / sample, out)
    with open(out / "scenario.yaml", "a") as fh:
        fh.write(extra)
    return out


def test_a_passing_sample_marked_incomplete_is_inconclusive_in_every_episode(tmp_path):
    assert ksaudit.analyze(SAMPLES / "strong-process-kill", deep=False).verdict.status == "PASS"
    out = copy_with(tmp_path, "strong-process-kill",
                    'incomplete: true\n'
                    'incomplete_reason: "interrupted by SIGINT during trial 1\'s event"\n'
                    'notes: ["no journal collected: journald is not running"]\n')
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    (reason,) = [r for r in a.verdict.reasons if r.code == "incomplete_evidence"]
    assert reason.message.endswith("interrupted by SIGINT during trial 1's event")
    assert a.episodes and all("incomplete_evidence" in {r.code for r in ep.reasons} for ep in a.episodes)
    assert "no journal collected: journald is not running" in a.notes
    doc = a.to_dict()["scenario"]
    assert doc["incomplete"] is True
    assert doc["notes"] == ["no journal collected: journald is not running"]


def test_an_incomplete_recording_that_leaked_still_fails(tmp_path):
    out = copy_with(tmp_path, "none-process-kill", "incomplete: true\n")
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL"
    codes = {r.code for r in a.verdict.reasons}
    assert {"leak", "incomplete_evidence"} <= codes
    assert any(r.message.endswith("no reason given") for r in a.verdict.reasons)


@pytest.mark.parametrize("extra,words", [
    ("incomplete: yes-ish\n", "incomplete: must be true or false"),
    ('incomplete_reason: "cut"\n', "incomplete_reason: given but 'incomplete' is not true"),
    ("incomplete: true\nincomplete_reason: [a]\n", "incomplete_reason: must be a non-empty string"),
    ("notes: a note\n", "notes: must be a list"),
    ("notes: [1]\n", "notes[0]: must be a non-empty string"),
])
def test_bad_markers_are_named(tmp_path, extra, words):
    out = copy_with(tmp_path, "strong-process-kill", extra)
    with pytest.raises(KsauditError, match=r"^" + words.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(out)


def test_complete_by_default(tmp_path):
    sc = load_scenario(SAMPLES / "strong-process-kill")
    assert (sc.incomplete, sc.incomplete_reason, sc.notes) == (False, None, ())
