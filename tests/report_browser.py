"""Open a local HTML file in headless Chromium and report what a reader's browser sees, over
the DevTools protocol (aiohttp's websocket client; no selenium, no puppeteer).

``inspect_page(html, png)`` returns the console errors, every URL the page requested, the
images that failed to decode, what a JS expression evaluated to, and writes a full-page
screenshot. ``find_chromium()`` is None where no browser is installed."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE = """JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0})),
  svgs: document.querySelectorAll('svg.plot').length,
  zoo: Array.from(document.querySelectorAll('#zoo tbody tr')).map(r => r.dataset.key),
  sections: Array.from(document.querySelectorAll('section h2')).map(h => h.textContent),
  filters: document.querySelectorAll('input.filter').length,
})"""


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)
    screenshot: str = ""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


async def _session(ws_url: str, html: Path, png: Path, scripts: bool) -> PageReport:
    import aiohttp

    rep = PageReport()
    ids = itertools.count(1)
    pending: dict[int, asyncio.Future] = {}
    loaded = asyncio.Event()
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:

        async def reader() -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if "id" in data and data["id"] in pending:
                    pending.pop(data["id"]).set_result(data)
                    continue
                method, params = data.get("method", ""), data.get("params", {})
                if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                    rep.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                       for a in params.get("args", [])))
                elif method == "Runtime.exceptionThrown":
                    rep.console_errors.append(params["exceptionDetails"].get("text", "exception"))
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    rep.console_errors.append(params["entry"].get("text", ""))
                elif method == "Network.requestWillBeSent":
                    rep.requests.append(params["request"]["url"])
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def call(method: str, **params: Any) -> dict[str, Any]:
            i = next(ids)
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            pending[i] = fut
            await ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
            res = await asyncio.wait_for(fut, 60)
            if "error" in res:
                raise RuntimeError(f"{method}: {res['error']}")
            return res.get("result", {})

        task = asyncio.create_task(reader())
        for domain in ("Runtime", "Log", "Network", "Page"):
            await call(f"{domain}.enable")
        await call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1,
                   mobile=False)
        if not scripts:
            await call("Emulation.setScriptExecutionDisabled", value=True)
        await call("Page.navigate", url=html.resolve().as_uri())
        await asyncio.wait_for(loaded.wait(), 60)
        if not scripts:
            await call("Emulation.setScriptExecutionDisabled", value=False)  # for the probe only
        res = await call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        rep.probe = json.loads(res["result"]["value"])
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        png.write_bytes(base64.b64decode(shot["data"]))
        rep.screenshot = str(png)
        task.cancel()
    return rep


def inspect_page(html: Path, png: Path, scripts: bool = True, chromium: str | None = None) -> PageReport:
    """Load ``html`` in a fresh headless Chromium profile and report on it."""
    exe = chromium or find_chromium()
    if exe is None:
        raise RuntimeError("no chromium on PATH")
    # chromium's helper processes may still write into the profile as the browser exits
    with tempfile.TemporaryDirectory(prefix="wb-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = None
            assert proc.stderr is not None
            for line in proc.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…"
                m = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
                    break
            if port is None:
                raise RuntimeError(f"chromium exited ({proc.wait()}) without a DevTools port")
            return asyncio.run(_page(port, html, png, scripts))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _page(port: int, html: Path, png: Path, scripts: bool) -> PageReport:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
    page = next(t for t in targets if t.get("type") == "page")
    return await _session(page["webSocketDebuggerUrl"], html, png, scripts)
