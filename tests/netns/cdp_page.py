#!/usr/bin/env python3
"""Keeps one page open in headless Chromium and answers commands about it.

    cdp_page.py URL CHROMIUM-ARGS...

Chromium runs with --remote-debugging-pipe (the DevTools protocol on fds 3
and 4: no port, no network) and real time, so that a page that polls keeps
polling while the test changes the world around it. Commands, one a line
on stdin, one answer line each on stdout:

    wait SECONDS JS      until JS is truthy (checked every 0.2 s; an
                         exception counts as false): ok | timeout
    eval JS              its value as JSON
    dom FILE             the live DOM (outerHTML) into FILE: ok BYTES
    viewport W H [mobile]  the page's size (1280 900 at the start)
    screenshot FILE      a PNG of the whole page into FILE: ok BYTES
    quit

Errors answer "error: WHY". Python's standard library only."""
import base64
import fcntl
import json
import os
import subprocess
import sys
import time


class JSError(RuntimeError):
    pass


class Browser:
    def __init__(self, args):
        to_chrome, self.wfd = os.pipe()
        self.rfd, from_chrome = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4; the
        # pipe's ends go high first, so that neither is overwritten.
        def fds():
            hi = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            os.dup2(hi[0], 3)
            os.dup2(hi[1], 4)

        self.proc = subprocess.Popen(args + ["--remote-debugging-pipe"], pass_fds=(3, 4),
                                     preexec_fn=fds, stdin=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, timeout=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self.read(deadline)
            if m.get("id") != self.next_id:
                continue  # an event, or an answer nobody waits for
            if "error" in m:
                raise RuntimeError("%s: %s" % (method, m["error"].get("message")))
            return m.get("result", {})

    def read(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise RuntimeError("no answer from chromium")
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url):
        t = self.send("Target.createTarget", {"url": "about:blank"})
        r = self.send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})
        self.session = r["sessionId"]
        self.send("Page.enable")
        self.viewport(1280, 900)
        self.send("Page.navigate", {"url": url})

    def viewport(self, width, height, mobile=False):
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def eval(self, js):
        r = self.send("Runtime.evaluate", {"expression": js, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise JSError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return "ok %d" % len(data)


def command(b, line):
    cmd, _, rest = line.partition(" ")
    if cmd == "wait":
        secs, _, js = rest.partition(" ")
        deadline = time.monotonic() + float(secs)
        while time.monotonic() < deadline:
            try:
                if b.eval(js):
                    return "ok"
            except JSError:
                pass  # not loaded yet
            time.sleep(0.2)
        return "timeout"
    if cmd == "eval":
        return json.dumps(b.eval(rest))
    if cmd == "dom":
        return write(rest, b.eval("document.documentElement.outerHTML").encode())
    if cmd == "viewport":
        w, h, *mobile = rest.split()
        b.viewport(int(w), int(h), mobile == ["mobile"])
        return "ok"
    if cmd == "screenshot":
        size = b.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        r = b.send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                              "captureBeyondViewport": True})
        return write(rest, base64.b64decode(r["data"]))
    raise RuntimeError("unknown command " + cmd)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    b = Browser(sys.argv[2:])
    try:
        b.open(sys.argv[1])
        print("ready", flush=True)
        for line in sys.stdin:
            line = line.strip()
            if line == "quit":
                break
            try:
                print(command(b, line), flush=True)
            except (RuntimeError, OSError, ValueError) as e:
                print("error: %s" % " ".join(str(e).split()), flush=True)
    except (RuntimeError, OSError) as e:
        print("error: %s" % e, flush=True)
    finally:
        b.close()


if __name__ == "__main__":
    main()
