"""The bundled sample build ``captures/samples/2026.11.0-lab``, produced by the lab.

Regenerate (root): ``ksaudit lab samples`` or ``python3 -m ksaudit.lab.samples``
(or ``captures/samples/regenerate.sh``).  Each scenario's truth must give the verdict
listed here, otherwise that run is retried once and then the regeneration fails:
a sample whose expected verdict drifted would silently change what the README shows.
The new build is assembled next to the old one and swapped in only when complete.
"""

import os
import shutil
import sys
from dataclasses import dataclass, field

from ksaudit.errors import KsauditError

BUILD = "2026.11.0-lab"
FOREIGN_BUILD = "2026.12.0-rig-b"       # the same lab, evidence written by another rig
# the checkout this package lives in (editable install), else the current directory
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_SAMPLES_DIR = os.path.join(_REPO if os.path.isdir(os.path.join(_REPO, "captures", "samples")) else ".",
                            "captures", "samples")
DEFAULT_DIR = os.path.join(_SAMPLES_DIR, BUILD)
FOREIGN_DIR = os.path.join(_SAMPLES_DIR, FOREIGN_BUILD)


@dataclass(frozen=True)
class Sample:
    name: str
    event: str
    policy: str
    expect: str
    flags: dict = field(default_factory=dict)


SAMPLES = (
    Sample("strong-process-kill", "process-kill", "strong", "PASS"),
    Sample("none-process-kill", "process-kill", "none", "FAIL"),
    Sample("app-level-process-kill", "process-kill", "app-level", "FAIL"),
    Sample("weak-reconnect-reconnect", "reconnect", "weak-reconnect", "FAIL"),
    Sample("fail-open-sleep-sleep-wake", "sleep-wake", "fail-open-sleep", "FAIL"),
    Sample("ipv4-only-wifi-yank-ipv6", "wifi-yank", "ipv4-only", "FAIL", {"ipv6": True}),
    Sample("none-wifi-yank-lan-dns", "wifi-yank", "none", "FAIL", {"allow_lan": True}),
    Sample("strong-wifi-yank-lan-ipv6", "wifi-yank", "strong", "PASS",
           {"allow_lan": True, "ipv6": True}),
    Sample("strong-reconnect-3-trials", "reconnect", "strong", "PASS", {"trials": 3}),
    Sample("none-reconnect-3-trials", "reconnect", "none", "FAIL", {"trials": 3}),
    Sample("strong-process-kill-no-probes", "process-kill", "strong", "INCONCLUSIVE",
           {"probes": False}),
    # real clients (docs/lab.md "Clients"): OpenVPN's routes go with its killed process;
    # wg-quick's PostUp REJECT recipe outlives it (traffic waits for WireGuard's retry)
    Sample("openvpn-none-process-kill", "process-kill", "none", "FAIL", {"client": "openvpn"}),
    Sample("wg-quick-client-process-kill", "process-kill", "client", "PASS",
           {"client": "wg-quick"}),
)

# `--rig foreign` (docs/lab.md "Another rig"): small, so they stay in the repository
def _foreign(**kw):
    from ksaudit.lab.events import Timing       # short phases, a probe every 20 ms: < 300 KB
    return {"rig": "foreign", "steady_ms": 1100, "probe_interval_ms": 20.0,
            "timing": Timing(down_ms=400, settle_ms=150, reconnect_gap_ms=300), **kw}


FOREIGN_SAMPLES = (
    Sample("strong-process-kill", "process-kill", "strong", "PASS", _foreign()),
    Sample("weak-reconnect-reconnect", "reconnect", "weak-reconnect", "FAIL", _foreign()),
)


def regenerate(out_dir=DEFAULT_DIR, only=(), attempts=2, samples=SAMPLES):
    """Run the lab for every sample (or only the named ones) into ``out_dir``.

    Parameters: out_dir (build directory), only (scenario names to redo; others kept),
    attempts (runs per sample before giving up on a drifted verdict), samples
    (SAMPLES, or FOREIGN_SAMPLES for the foreign rig's build).
    Returns: 0.  Raises KsauditError naming the sample whose truth disagrees.
    """
    from ksaudit.lab import runner

    names = {s.name for s in samples}
    unknown = set(only) - names
    if unknown:
        raise KsauditError(f"lab samples: unknown sample(s) {', '.join(sorted(unknown))} "
                           f"(known: {', '.join(sorted(names))})")
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise KsauditError(f"lab samples: {out_dir} exists and is not a directory")
    build = os.path.basename(out_dir)
    staging = out_dir + ".regenerating"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        for sample in samples:
            target = os.path.join(staging, sample.name)
            if only and sample.name not in only:
                old = os.path.join(out_dir, sample.name)
                if os.path.isdir(old):
                    shutil.copytree(old, target)
                continue
            for attempt in range(1, attempts + 1):
                shutil.rmtree(target, ignore_errors=True)
                result = runner.run(runner.RunOptions(event=sample.event, policy=sample.policy,
                                                      out=target, build=build, **sample.flags))
                print(f"{sample.name}: expected verdict {result.expected_verdict} "
                      f"(want {sample.expect}, attempt {attempt})", flush=True)
                if result.expected_verdict == sample.expect:
                    break
            else:
                raise KsauditError(f"lab samples: {sample.name} gave {result.expected_verdict}, "
                                   f"not {sample.expect}, in {attempts} runs")
        old = out_dir + ".old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.isdir(out_dir):
            os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return 0


if __name__ == "__main__":
    from ksaudit.cli import main
    sys.exit(main(["lab", "samples", *sys.argv[1:]]))
