"""The rendered sample reports in a real headless Chromium: no console errors, no
network requests, verdict and timeline on screen.  A negative-control page proves
that the console and network checks would notice."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


def open_page(path, tmp_path, width=1280, height=3200):
    """Load `path` headless; return (dom, console lines, requested URLs, screenshot array)."""
    shot, netlog = tmp_path / f"{path.stem}.png", tmp_path / f"{path.stem}.netlog.json"
    with tempfile.TemporaryDirectory() as profile:
        base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                # nothing can leave the machine even if a page asked: every name resolves to nothing
                "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={netlog}",
                f"--window-size={width},{height}", "--hide-scrollbars"]
        dom = subprocess.run(base + ["--dump-dom", path.as_uri()], capture_output=True, text=True,
                             timeout=90)
        assert dom.returncode == 0, dom.stderr[-2000:]
        urls = page_requests(json.loads(netlog.read_text(errors="replace")))
        pic = subprocess.run(base + [f"--screenshot={shot}", path.as_uri()], capture_output=True,
                             text=True, timeout=90)
        assert pic.returncode == 0 and shot.stat().st_size > 0, pic.stderr[-2000:]
    console = [line for line in (dom.stderr + pic.stderr).splitlines() if ":CONSOLE" in line]
    from matplotlib.image import imread
    return dom.stdout, console, urls, imread(str(shot))[..., :3]


def page_requests(netlog):
    """URLs the page asked for: request jobs started on behalf of a file:// page.

    Chromium's own background services (update checks and the like) run under another
    network isolation key and are left out; --host-resolver-rules stops them anyway.
    """
    kinds = {v: k for k, v in netlog["constants"]["logEventTypes"].items()}
    return {e["params"]["url"] for e in netlog["events"]
            if kinds.get(e["type"]) == "URL_REQUEST_START_JOB"
            and str(e.get("params", {}).get("network_isolation_key", "")).startswith("file://")}


def page_urls(urls):
    return sorted(u for u in urls if not u.startswith(("file:", "data:")))


def near(img, rgb, tol=0.06):
    return int((np.abs(img - np.array(rgb) / 255.0).max(axis=-1) < tol).sum())


def test_negative_control_is_caught(tmp_path):
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("ksaudit-control")'
                    '</script><img src="http://ksaudit-control.invalid/x.png"></body></html>')
    _, console, urls, _ = open_page(page, tmp_path, height=400)
    assert any("ksaudit-control" in line for line in console)
    assert page_urls(urls) == ["http://ksaudit-control.invalid/x.png"]


def test_scenario_report_in_chromium(sample_render, tmp_path):
    dom, console, urls, img = open_page(sample_render["out"] / "none-process-kill.html", tmp_path)
    assert console == []
    assert page_urls(urls) == []
    assert 'class="ks-verdict ks-FAIL"' in dom and ">Timeline<" in dom
    assert dom.count('<img alt=') >= 3 or dom.count("<img") >= 3
    assert img.std() > 0.05  # not a blank page
    top = img[:400]
    assert near(top, (0xCF, 0x22, 0x2E)) > 20_000  # the red FAIL banner near the top
    assert near(img, (0x1F, 0x6F, 0xEB), tol=0.08) > 200  # blue probe marks: the timeline drew
    assert near(img, (0xD1, 0x24, 0x2F), tol=0.08) > 20_000


def test_index_in_chromium(sample_render, tmp_path):
    dom, console, urls, img = open_page(sample_render["out"] / "index.html", tmp_path, height=1600)
    assert console == [] and page_urls(urls) == []
    assert "Verdict matrix" in dom and 'href="none-process-kill.html"' in dom
    assert img.std() > 0.05
