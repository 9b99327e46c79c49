"""The README's TensorBoard screenshot (``figures/tensorboard/scalars.png``): headless
Chromium on a running ``tensorboard --logdir runs/tb`` through the DevTools protocol, with
smoothing 0 and "ignore outliers" off (that setting lives in the page's localStorage, so a
plain ``chromium --screenshot`` cannot set it).

Needs what the library does not: Chromium (``apt-get install chromium``) and
``pip install websocket-client tensorboard``.  Usage::

    tensorboard --logdir runs/tb --port 6006 &
    python docs/tensorboard_screenshot.py figures/tensorboard/scalars.png
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request

import websocket

DASHBOARD = (
    "http://127.0.0.1:6006/?darkMode=false#scalars&_smoothingWeight=0"
    "&tagFilter=eval%2F(fcd%7Ckid%7Crecall%7Cprecision)%24%7Ctrain%2Floss"
)
PORT = 9333


def main(out: str, url: str = DASHBOARD) -> None:
    chrome = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-3d-apis",
         "--disable-webgl", "--hide-scrollbars", f"--remote-debugging-port={PORT}",
         "--remote-allow-origins=*", "--user-data-dir=/tmp/tensorboard_screenshot",
         "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
                break
            except OSError:
                time.sleep(0.2)
        page = next(p for p in pages if p["type"] == "page")
        socket = websocket.create_connection(page["webSocketDebuggerUrl"])
        counter = iter(range(1, 10**6))

        def call(method: str, **params) -> dict:
            ident = next(counter)
            socket.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads(socket.recv())
                if message.get("id") == ident:
                    return message.get("result", {})

        call("Page.enable")
        call("Emulation.setDeviceMetricsOverride", width=1500, height=800,
             deviceScaleFactor=1, mobile=False)  # fmt: skip
        call("Page.navigate", url=url)
        time.sleep(6)
        call("Runtime.evaluate", expression="localStorage.setItem('_ignoreYOutliers', 'false')")
        call("Page.reload")
        time.sleep(10)  # the dashboard loads its runs and draws
        shot = call("Page.captureScreenshot", format="png")
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    finally:
        chrome.kill()


if __name__ == "__main__":
    main(sys.argv[1])
