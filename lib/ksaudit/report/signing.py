"""Detached OpenSSH signatures of a build's SHA256SUMS (``ssh-keygen -Y sign`` / ``-Y verify``).

SHA256SUMS lists the SHA-256 of every other file of a build, so one signature over it
covers the whole build.  The signature is ``SHA256SUMS.sig`` next to it, in OpenSSH's
SSHSIG format with the namespace ``ksaudit``; anyone holding the signer's public key
checks it with stock OpenSSH, no ksaudit needed.
"""

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from ksaudit.errors import KsauditError
from ksaudit.report.hashing import SIG_NAME, SUMS_NAME
from ksaudit.safeio import open_regular

NAMESPACE = "ksaudit"
PRINCIPAL = "ksaudit"
TIMEOUT_S = 120  # a passphrase prompt included


def _ssh_keygen():
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise KsauditError("signing needs OpenSSH's ssh-keygen (package openssh-client); not found")
    return exe


def _last_line(text):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _regular(path, follow=True):
    with open_regular(path, follow=follow):
        pass
    return str(Path(path).resolve())


def fingerprint(key):
    """``SHA256:…`` fingerprint and type of a private or public key file (KsauditError if not a key)."""
    key = _regular(key)
    proc = subprocess.run([_ssh_keygen(), "-l", "-f", key], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=TIMEOUT_S)
    if proc.returncode != 0 or not proc.stdout.split():
        raise KsauditError(f"{key}: not an OpenSSH key ({_last_line(proc.stderr)})")
    fields = proc.stdout.split()
    return f"{fields[1]} ({fields[-1].strip('()')})"


def sign(sums_path, key):
    """Write ``SHA256SUMS.sig`` next to `sums_path`, signed with the private `key`.

    Parameters
    ----------
    sums_path : Path
        The build's SHA256SUMS.
    key : str or Path
        An OpenSSH private key file (or a public key whose private half is in ssh-agent).

    Returns
    -------
    Path
        The signature file.
    """
    key = _regular(key)
    sig = Path(sums_path).with_name(SIG_NAME)
    with open(sums_path, "rb") as data, open(sig, "wb") as out:
        # the data on stdin, the signature on stdout; a passphrase is asked on the terminal
        proc = subprocess.run([_ssh_keygen(), "-q", "-Y", "sign", "-f", key, "-n", NAMESPACE],
                              stdin=data, stdout=out, stderr=subprocess.PIPE, text=True,
                              timeout=TIMEOUT_S)
    if proc.returncode != 0 or sig.stat().st_size == 0:
        raise KsauditError(f"--sign {key}: ssh-keygen could not sign: {_last_line(proc.stderr)}")
    return sig


def _public_key_line(pub):
    with open_regular(pub) as fh:
        raw = fh.read(1 << 16)
    lines = [ln.strip() for ln in raw.decode("utf-8", "replace").splitlines()
             if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1 or len(lines[0].split()) < 2 or lines[0].split()[0].startswith("-----"):
        raise KsauditError(f"--key {pub}: expected one OpenSSH public key line "
                           "(the signer's .pub file, e.g. 'ssh-ed25519 AAAA… name')")
    return lines[0]


def check(sums_path, sig_path, pub):
    """None when `sig_path` is a good signature of `sums_path` by public key `pub`, else why not.

    Parameters
    ----------
    sums_path, sig_path : Path
        SHA256SUMS and SHA256SUMS.sig of a build (regular files).
    pub : str or Path
        The signer's OpenSSH public key file.

    Returns
    -------
    str or None
        One line from ssh-keygen saying what failed.
    """
    line = _public_key_line(pub)
    fingerprint(pub)  # KsauditError unless it is a key
    exe = _ssh_keygen()
    _regular(sig_path, follow=False)  # a FIFO there would block ssh-keygen
    with tempfile.TemporaryDirectory(prefix="ksaudit-verify-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(f'{PRINCIPAL} namespaces="{NAMESPACE}" {line}\n', encoding="utf-8")
        with open_regular(sums_path, follow=False) as data:
            proc = subprocess.run([exe, "-Y", "verify", "-f", str(allowed), "-I", PRINCIPAL,
                                   "-n", NAMESPACE, "-s", os.fspath(sig_path)],
                                  stdin=data, capture_output=True, text=True, timeout=TIMEOUT_S)
    if proc.returncode == 0:
        return None
    return _last_line(proc.stderr or proc.stdout)


def check_commands(reports_label):
    """Shell lines that check a signed build with OpenSSH alone, given the signer's key.pub."""
    d = shlex.quote(reports_label)
    return [f"(printf '{PRINCIPAL} '; cat key.pub) > allowed_signers",
            f"ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {NAMESPACE} "
            f"-s {d}/{SIG_NAME} < {d}/{SUMS_NAME}",
            f"(cd {d} && sha256sum -c {SUMS_NAME})"]
