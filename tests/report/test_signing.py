"""Signed builds: SHA256SUMS.sig by `ssh-keygen -Y sign`, checked by verify --key and by
stock OpenSSH with the commands the changelog snippet prints; a rewrite of a report
together with SHA256SUMS passes plain verify but not the signature check."""

import shutil
import subprocess
import sys

import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import hashing, signing, summary, verify

from .test_verify import make_build

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                reason="needs OpenSSH's ssh-keygen (openssh-client)")


def keypair(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qa@example",
                    "-f", str(path)], check=True, timeout=60)
    return path, path.with_name(path.name + ".pub")


@pytest.fixture
def signed(tmp_path):
    reports, captures = make_build(tmp_path)
    key, pub = keypair(tmp_path / "key")
    signing.sign(reports / hashing.SUMS_NAME, key)
    return reports, captures, key, pub


def cli_verify(*args):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", "verify", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def test_verify_key_accepts_the_signature(signed):
    reports, captures, _, pub = signed
    result = verify.verify_build(reports, captures, key=pub)
    assert (result.problems, result.signature) == ((), "good")
    proc = cli_verify(reports, "--captures", captures, "--key", pub)
    assert proc.returncode == 0 and "good signature" in proc.stdout
    assert "present but not checked" in cli_verify(reports).stdout


def test_a_rewrite_of_report_and_manifest_together_fails_only_the_signature(signed):
    reports, _, _, pub = signed
    (reports / "one.html").write_text("<p>one: FAIL</p>")
    hashing.write_sums(reports)  # the rewrite a plain manifest cannot detect
    assert verify.verify_build(reports).problems == ()
    proc = cli_verify(reports, "--key", pub)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"CHANGED: {reports / 'SHA256SUMS'} (SHA256SUMS.sig is not its signature")


def test_another_key_or_no_signature_fails(signed, tmp_path):
    reports, _, _, _ = signed
    _, other = keypair(tmp_path / "other")
    assert [p.kind for p in verify.verify_build(reports, key=other).problems] == ["CHANGED"]
    (reports / signing.SIG_NAME).unlink()
    result = verify.verify_build(reports, key=other)
    assert [(p.kind, p.path) for p in result.problems] == \
        [("MISSING", str(reports / signing.SIG_NAME))]


def test_the_snippet_commands_check_the_signature_with_openssh_alone(signed, tmp_path):
    reports, _, key, pub = signed
    doc = {"build": "b", "verdict": "PASS", "ksaudit_version": "x", "scenarios": []}
    text = summary.changelog_snippet(doc, reports_label=str(reports), signed_by=signing.fingerprint(key))
    assert signing.fingerprint(pub) in text.replace("\\", "")
    block = text.split("```sh\n")[-1].split("```")[0]
    work = tmp_path / "reader"
    work.mkdir()
    shutil.copy(pub, work / "key.pub")
    proc = subprocess.run(["bash", "-e", "-c", block], cwd=work, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Good \"ksaudit\" signature" in proc.stdout + proc.stderr and "one.html: OK" in proc.stdout
    (reports / "one.html").write_text("rewritten")
    hashing.write_sums(reports)
    assert subprocess.run(["bash", "-e", "-c", block], cwd=work, capture_output=True,
                          timeout=60).returncode != 0


def test_a_bad_key_is_one_clear_error(tmp_path):
    (tmp_path / "nokey").write_text("not a key\n")
    with pytest.raises(KsauditError, match="nokey: not an OpenSSH key"):
        signing.fingerprint(tmp_path / "nokey")
    reports, _ = make_build(tmp_path)
    signing.sign(reports / hashing.SUMS_NAME, keypair(tmp_path / "k")[0])
    with pytest.raises(KsauditError, match="nokey: not an OpenSSH key"):
        verify.verify_build(reports, key=tmp_path / "nokey")
    (tmp_path / "two").write_text("ssh-ed25519 AAAA a\nssh-ed25519 AAAA b\n")
    with pytest.raises(KsauditError, match="--key .*two: expected one OpenSSH public key line"):
        verify.verify_build(reports, key=tmp_path / "two")
