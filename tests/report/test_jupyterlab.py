"""The capture explorer in a real JupyterLab, in headless Chromium driven over the
DevTools protocol: run all cells, see the widgets and the plot, type a Wireshark
filter and see the row count change, see the report CSS on a view, and after a
kernel restart and a reload see "re-run this cell" instead of a bare error.

Everything listens on 127.0.0.1 only; JupyterLab and Chromium are stopped by PID.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from ksaudit.report.resources import NOTEBOOKS_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
JUPYTER = shutil.which("jupyter-lab")
SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab" / "none-process-kill"
TOKEN = "ksaudit-lab-test"
START_S, RUN_S, STEP_S = 60, 180, 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(JUPYTER is None, reason="jupyter-lab is not installed"),
    pytest.mark.skipif(not SAMPLE.is_dir(), reason="the lab's sample build is not in captures/samples"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout_s, what):
    """Poll `check` (returns a truthy value when done) every 0.25 s for at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stop(proc):
    """Stop a process we started, and what it started (kernels, renderers), by PID."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


class Page:
    """A small DevTools-protocol client on one page: evaluate, type, press a key."""

    def __init__(self, ws_url):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=STEP_S, suppress_origin=True)
        self.next_id, self.events = 0, []
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:   # events arrive in between: kept for load(), else ignored
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg["method"])
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]

    def load(self, method, **params):
        """Navigate or reload, and return once the page's load event fired."""
        self.events.clear()
        self.call(method, **params)
        deadline = time.monotonic() + START_S
        while "Page.loadEventFired" not in self.events and time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg.get("method"))
        assert "Page.loadEventFired" in self.events, f"{method}: the page did not load"

    def js(self, expression):
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type_and_enter(self, selector, text):
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                "e.focus(); e.select(); return true; })()")
        self.call("Input.insertText", text=text)
        # keyDown with text "\r" is a real Enter: the input fires "change", as when typed
        self.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                  text="\r", unmodifiedText="\r", windowsVirtualKeyCode=13)
        self.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                  windowsVirtualKeyCode=13)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 serving a copy of the explorer notebook pointed at the
    sample scenario, with its own settings, runtime and workspace directories."""
    nb = nbformat.read(str(NOTEBOOKS_DIR / "explore_capture.ipynb"), as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('path: str = ""', f"path: str = {str(SAMPLE)!r}", 1)
    assert str(SAMPLE) in params.source
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(nb, str(root / "explore.ipynb"))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    port = free_port()
    proc = subprocess.Popen(
        [JUPYTER, "--no-browser", "--allow-root", f"--IdentityProvider.token={TOKEN}", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.extension_manager=readonly"],
        cwd=root, env=env, stdout=open(tmp_path / "lab.log", "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return proc.poll() is not None   # exited: fail below, not after the timeout
    try:
        wait_for(up, START_S, "JupyterLab to answer")
        assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
        yield {"url": f"{base}/lab/tree/explore.ipynb?token={TOKEN}", "log": tmp_path / "lab.log"}
    finally:
        stop(proc)


@pytest.fixture
def page(lab, tmp_path):
    """Headless Chromium on the notebook's JupyterLab page, through a DevTools port."""
    profile = tmp_path / "chromium"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1400,2400", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "chromium.log", "wb"))
    try:
        port_file = profile / "DevToolsActivePort"
        wait_for(lambda: port_file.is_file() and port_file.read_text().strip(), START_S,
                 "Chromium's DevTools port")
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        p = Page(target["webSocketDebuggerUrl"])
        p.load("Page.navigate", url=lab["url"])
        yield p
        p.ws.close()
    finally:
        stop(proc)


PANEL = ("Array.from(jupyterapp.shell.widgets('main'))"
         ".find(w => w.sessionContext && w.context && w.context.path === 'explore.ipynb')")


def kernel_idle(page):
    """The notebook is open and its kernel idle (found among the main-area widgets:
    headless, no widget has focus, so shell.currentWidget stays empty)."""
    return page.js(f"""(() => {{ if (!window.jupyterapp) return false; const w = {PANEL};
        const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
        return !!(k && k.status === 'idle' && w.content.widgets.length); }})()""")


def message(page):
    return page.js("(() => { const m = [...document.querySelectorAll('.ks-explorer .widget-html')]"
                   ".map(e => e.textContent).find(t => t.includes('matching frames')); "
                   "return m || ''; })()")


def style_of(page, selector, prop):
    return page.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                   f"return e ? getComputedStyle(e)[{json.dumps(prop)}] : null; }})()")


def test_explorer_runs_filters_and_keeps_its_look_in_jupyterlab(page, lab):
    wait_for(lambda: kernel_idle(page), RUN_S, "the notebook and its kernel")
    page.js("jupyterapp.commands.execute('notebook:run-all-cells')")
    wait_for(lambda: page.js("!!document.querySelector('.ks-explorer .widget-output img')"),
             RUN_S, "the explorer's plot")
    wait_for(lambda: message(page), STEP_S, "the explorer's message line")
    assert page.js("!!document.querySelector('.ks-explorer input[placeholder*=\"ip.dst\"]')")
    assert "udp.port" in page.js("document.querySelector('.ks-explorer').textContent")
    before = message(page)
    assert " 498 of 498 matching frames" in before

    page.type_and_enter(".ks-explorer input[placeholder*='ip.dst']", "ip.dst == 203.0.113.80 && leak")
    after = wait_for(lambda: (m := message(page)) != before and m, STEP_S, "the filtered rows")
    assert " 220 of 220 matching frames" in after   # the sample's 220 leaked probes
    rows = page.js("document.querySelectorAll('.ks-explorer .ks-view tbody tr').length")
    assert rows == 50                               # max_rows of them listed

    page.type_and_enter(".ks-explorer input[placeholder*='ip.dst']", "dst == 203.0.113.80")
    wait_for(lambda: page.js("!!document.querySelector('.ks-explorer .ks-error')"), STEP_S,
             "the filter error")
    assert "quote the address" in page.js("document.querySelector('.ks-explorer .ks-error').textContent")

    # the report stylesheet reaches outputs: a view's header cell and note, the explorer's table
    assert style_of(page, ".jp-OutputArea-output .ks-view th", "backgroundColor") == "rgb(246, 248, 250)"
    assert style_of(page, ".ks-view .ks-note", "color") == "rgb(90, 98, 112)"
    assert style_of(page, ".ks-rerun", "display") == "none"   # hidden while the widget is live

    # a dead widget: save, restart the kernel, reload; JupyterLab cannot find the model
    page.js(f"{PANEL}.context.save()")
    page.js(f"{PANEL}.sessionContext.session.kernel.restart()")
    page.load("Page.reload")
    wait_for(lambda: kernel_idle(page), RUN_S, "the reloaded notebook")
    wait_for(lambda: page.js("document.body.textContent.includes('model not found')"), RUN_S,
             "JupyterLab's model-not-found error")
    assert not page.js("!!document.querySelector('.ks-explorer')")
    assert style_of(page, ".ks-rerun", "display") == "block"
    assert "re-run this cell" in page.js("document.querySelector('.ks-rerun').textContent")
    log = lab["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]

