// The CPE's status page: polls GET /status and GET /flows (docs/control.md)
// once a second and draws what they say. No framework, no build step.
// Every string from the daemon goes into the DOM as textContent or an
// attribute value, never as markup.
"use strict";

(function () {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 3000;
  const WINDOW_S = 60; // the graphs' span
  const GAP_S = 5; // a longer hole between samples breaks the graph's line
  const FLOW_LIMIT = 50;

  const $ = (id) => document.getElementById(id);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const str = (v) => (v === null || v === undefined ? "–" : String(v));
  const isObj = (v) => v !== null && typeof v === "object";

  // name -> { card, canvas, prev: {t, tx, rx}, hist: [{t, tx, rx}], tx, rx }
  const paths = new Map();
  let started = null; // the daemon's start time: a change means a restart
  let lastT = null; // its uptime at the last poll: the graphs' "now"
  let polls = 0;

  // ---- formatting ----

  function scaled(v, units) {
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    if (i === 0)
      return Math.round(v) + " " + units[0];
    return v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + " " + units[i];
  }
  const fmtBytes = (v) =>
    num(v) === null ? "–" : scaled(v, ["B", "kB", "MB", "GB", "TB", "PB"]);
  const fmtRate = (v) =>
    num(v) === null ? "–" : scaled(v, ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]);
  // Axis labels: no trailing zeros ("25 Mbit/s", "2.5 Mbit/s").
  function fmtAxis(v) {
    const s = fmtRate(v);
    return s.includes(".") ? s.replace(/\.?0+ /, " ") : s;
  }
  const pad2 = (n) => String(n).padStart(2, "0");

  function fmtDur(s) {
    if (num(s) === null || s < 0)
      return "–";
    if (s < 60)
      return s.toFixed(s < 10 ? 1 : 0) + " s";
    const m = Math.floor(s / 60), h = Math.floor(s / 3600);
    if (s < 3600)
      return m + " min " + pad2(Math.floor(s % 60)) + " s";
    if (h < 48)
      return h + " h " + pad2(m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function fmtMs(v) {
    if (num(v) === null)
      return "–";
    return v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + " ms";
  }

  function setText(el, s) {
    if (el.textContent !== s)
      el.textContent = s;
  }

  // ---- fetching ----

  async function getJSON(url) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const r = await fetch(url, { cache: "no-store", signal: abort.signal });
      if (!r.ok)
        throw new Error("HTTP " + r.status + " from " + url);
      return await r.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function why(e) {
    if (e && e.name === "AbortError")
      return "no answer in " + TIMEOUT_MS / 1000 + " s";
    if (e instanceof TypeError)
      return "no connection"; // fetch's word for any network failure
    return e && e.message ? e.message : "unknown error";
  }

  function setConn(ok, err) {
    document.body.dataset.conn = ok ? "ok" : "down";
    setText($("conn"), ok ? "live" : "daemon unreachable: " + why(err) +
      "; retrying every second");
  }

  // ---- paths: rates from counter deltas, on the daemon's clock ----

  function newPath(name) {
    const card = $("path-card").content.firstElementChild.cloneNode(true);
    card.dataset.path = name;
    card.querySelector(".path-name").textContent = name;
    const canvas = card.querySelector("canvas");
    canvas.setAttribute("aria-label", "throughput of path " + name +
      ", last " + WINDOW_S + " seconds");
    canvas.setAttribute("role", "img");
    return { card, canvas, prev: null, hist: [], tx: null, rx: null };
  }

  // The daemon's uptime, not the browser's clock, times the deltas: a
  // slow answer or a throttled tab then bends no rate.
  function sample(ps, t, p) {
    const tx = num(p.tx_bytes), rx = num(p.rx_bytes), prev = ps.prev;

    if (t === null || tx === null || rx === null) {
      ps.prev = null;
      ps.tx = ps.rx = null;
      return;
    }
    if (prev && t <= prev.t)
      return; // the same moment again: keep what is shown
    ps.prev = { t, tx, rx };
    if (!prev || tx < prev.tx || rx < prev.rx) {
      ps.tx = ps.rx = null; // first look, or the counters were reset
      return;
    }
    ps.tx = ((tx - prev.tx) * 8) / (t - prev.t);
    ps.rx = ((rx - prev.rx) * 8) / (t - prev.t);
    ps.hist.push({ t, tx: ps.tx, rx: ps.rx });
    while (ps.hist.length && ps.hist[0].t < t - WINDOW_S)
      ps.hist.shift();
  }

  function field(card, cls, s) {
    setText(card.querySelector("." + cls), s);
  }

  function renderPath(ps, p) {
    const st = p.state === "up" || p.state === "down" ? p.state : "unknown";
    const card = ps.card;
    const sent = num(p.probes_sent), ok = num(p.probes_ok);

    card.dataset.state = st;
    card.dataset.role = str(p.role);
    // the raw numbers, for tests and scripts that read the page
    card.dataset.txBps = ps.tx === null ? "" : String(Math.round(ps.tx));
    card.dataset.rxBps = ps.rx === null ? "" : String(Math.round(ps.rx));
    card.dataset.samples = String(ps.hist.length);
    field(card, "badge-icon", st === "up" ? "▲" : st === "down" ? "▼" : "?");
    field(card, "badge-text", st.toUpperCase());
    field(card, "f-interface", str(p.interface));
    field(card, "f-role", str(p.role));
    // A down path's RTT is its last answer's, from before it went down.
    field(card, "f-rtt", (st === "down" && num(p.rtt_ms) !== null ? "last " : "") +
      fmtMs(num(p.rtt_ms)));
    field(card, "f-subflows", str(num(p.subflows)));
    field(card, "f-source", p.source ? String(p.source) : "unknown");
    field(card, "f-gateway", p.gateway ? String(p.gateway) : "device route");
    field(card, "f-since-label", st === "unknown" ? "In state" : st === "up" ? "Up for" : "Down for");
    field(card, "f-since", fmtDur(num(p.since_s)));
    field(card, "f-probes", sent === null || ok === null ? "–" : ok + " of " + sent);
    field(card, "f-downs", str(num(p.downs)));
    field(card, "f-tx", fmtRate(ps.tx));
    field(card, "f-rx", fmtRate(ps.rx));
  }

  // Cards follow the daemon's order (its file order); a path gone after
  // a reload loses its card.
  function updatePaths(st) {
    const list = Array.isArray(st.paths) ? st.paths.filter(isObj) : [];
    const box = $("paths"), seen = new Set();
    const t = num(st.uptime_s);
    let up = 0, tx = 0, rx = 0, rated = false;

    list.forEach((p, i) => {
      const name = str(p.name);
      let ps = paths.get(name);
      if (seen.has(name))
        return; // names are unique; a second one would fight for the card
      seen.add(name);
      if (!ps) {
        ps = newPath(name);
        paths.set(name, ps);
      }
      if (box.children[i] !== ps.card)
        box.insertBefore(ps.card, box.children[i] || null);
      sample(ps, t, p);
      renderPath(ps, p);
      up += p.state === "up" ? 1 : 0;
      if (ps.tx !== null) {
        tx += ps.tx;
        rx += ps.rx;
        rated = true;
      }
    });
    for (const [name, ps] of paths) {
      if (!seen.has(name)) {
        ps.card.remove();
        paths.delete(name);
      }
    }
    $("no-paths").hidden = list.length > 0;
    setText($("paths-up"), list.length ? up + " of " + list.length : "none configured");
    setText($("rate-tx"), rated ? fmtRate(tx) : "–");
    setText($("rate-rx"), rated ? fmtRate(rx) : "–");
    drawAll();
  }

  function updateSummary(st) {
    const flows = st.flows || {}, bytes = st.bytes || {};

    setText($("daemon"), str(st.daemon));
    setText($("version"), st.version ? String(st.version) : "");
    setText($("uptime"), fmtDur(num(st.uptime_s)));
    setText($("concentrator"), str(st.concentrator));
    setText($("tun"), str(st.tun));
    setText($("flows-active"), str(num(flows.active)));
    setText($("flows-total"), str(num(flows.total)));
    setText($("bytes-up"), fmtBytes(bytes.up));
    setText($("bytes-down"), fmtBytes(bytes.down));
  }

  function updateStatus(st) {
    const t = num(st.uptime_s);

    // A restarted daemon counts from zero again: old samples mean nothing.
    if (st.started !== started || (t !== null && lastT !== null && t < lastT)) {
      for (const ps of paths.values()) {
        ps.prev = null;
        ps.hist = [];
      }
      started = st.started;
    }
    lastT = t;
    updateSummary(st);
    updatePaths(st);
  }

  // ---- flows ----

  // The column's name goes with each cell: a narrow screen shows a flow
  // as a block of labelled lines (style.css).
  const FLOW_COLUMNS = ["Client", "Destination", "State", "Path", "Age", "↑", "↓"];

  function cell(tr, s, cls) {
    const td = document.createElement("td");
    td.textContent = s;
    td.dataset.label = FLOW_COLUMNS[tr.cells.length];
    if (cls)
      td.className = cls;
    tr.appendChild(td);
  }

  function flowRow(f) {
    const tr = document.createElement("tr");

    tr.dataset.flow = str(f.id);
    tr.dataset.destination = str(f.destination);
    tr.dataset.state = str(f.state);
    cell(tr, str(f.client), "client");
    cell(tr, str(f.destination), "dest");
    cell(tr, str(f.state));
    cell(tr, f.direct ? "direct" : f.path ? String(f.path) : "–", f.direct ? "direct" : "");
    cell(tr, fmtDur(num(f.age_s)), "num");
    cell(tr, fmtBytes(f.bytes_up), "num");
    cell(tr, fmtBytes(f.bytes_down), "num");
    return tr;
  }

  function updateFlows(fl, err) {
    const note = $("flows-note");
    const list = isObj(fl) && Array.isArray(fl.flows) ? fl.flows.filter(isObj) : [];
    const frag = document.createDocumentFragment();

    if (!err && !isObj(fl))
      err = new Error("not a JSON object");
    list.forEach((f) => frag.appendChild(flowRow(f)));
    $("flows-body").replaceChildren(frag);
    if (err) {
      setText($("flows-shown"), "");
      setText(note, "The flow list is not available: " + why(err) + ".");
    } else {
      const total = num(fl.total) === null ? list.length : fl.total;
      setText($("flows-shown"), fl.truncated || total > list.length
        ? "(" + list.length + " of " + total + ")" : "(" + total + ")");
      setText(note, list.length ? "" : "No flows open.");
    }
    note.hidden = note.textContent === "";
  }

  // ---- graphs ----

  // The graph's top: the next of 1, 1.5, 2, 3, 4, 5, 6, 8 (times a power
  // of ten) above v, so that the lines fill the height; 1 kbit/s at least.
  function niceMax(v) {
    if (!(v > 1000))
      return 1000;
    const e = Math.pow(10, Math.floor(Math.log10(v)));
    const step = [1, 1.5, 2, 3, 4, 5, 6, 8, 10].find((f) => f * e >= v);
    return step * e;
  }

  // Fit the canvas's pixels to its size on screen (and the screen's density).
  function fitCanvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    const pw = Math.round(w * dpr), ph = Math.round(h * dpr);

    if (c.width !== pw || c.height !== ph) {
      c.width = pw;
      c.height = ph;
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { g, w, h };
  }

  // One series as a line, broken where samples are missing; fill closes
  // it down to the axis.
  function trace(g, hist, key, x, y, fill) {
    let run = [];
    const flush = () => {
      if (run.length < 2) {
        run = [];
        return;
      }
      g.beginPath();
      run.forEach((s, i) => (i ? g.lineTo : g.moveTo).call(g, x(s.t), y(s[key])));
      if (fill) {
        g.lineTo(x(run[run.length - 1].t), y(0));
        g.lineTo(x(run[0].t), y(0));
        g.closePath();
        g.fill();
      } else {
        g.stroke();
      }
      run = [];
    };
    hist.forEach((s, i) => {
      if (i && s.t - hist[i - 1].t > GAP_S)
        flush();
      run.push(s);
    });
    flush();
  }

  function drawGraph(ps) {
    const c = ps.canvas;
    if (!c.clientWidth || !c.clientHeight)
      return;
    const { g, w, h } = fitCanvas(c);
    const css = getComputedStyle(c);
    const color = (n) => css.getPropertyValue(n).trim() || "#888";
    const top = 16, bottom = h - 16, now = lastT === null ? 0 : lastT;
    const max = niceMax(Math.max(0, ...ps.hist.map((s) => Math.max(s.tx, s.rx))) * 1.05);
    const x = (t) => w * (1 - (now - t) / WINDOW_S);
    const y = (v) => bottom - ((bottom - top) * v) / max;

    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    g.strokeStyle = color("--grid");
    g.fillStyle = color("--muted");
    g.textBaseline = "bottom";
    for (const f of [0, 0.5, 1]) {
      const gy = Math.round(y(max * f)) + 0.5;
      g.beginPath();
      g.moveTo(0, gy);
      g.lineTo(w, gy);
      g.stroke();
      if (f)
        g.fillText(fmtAxis(max * f), 3, gy - 2);
    }
    g.textBaseline = "alphabetic";
    g.fillText("−" + WINDOW_S + " s", 3, h - 3);
    g.textAlign = "right";
    g.fillText("now", w - 3, h - 3);
    g.textAlign = "left";
    if (ps.hist.length < 2) {
      g.textAlign = "center";
      g.fillText("collecting samples…", w / 2, (top + bottom) / 2);
      g.textAlign = "left";
      return;
    }
    g.save();
    g.beginPath();
    g.rect(0, top - 2, w, bottom - top + 2);
    g.clip();
    g.lineJoin = "round";
    g.globalAlpha = 0.18;
    g.fillStyle = color("--rx");
    trace(g, ps.hist, "rx", x, y, true);
    g.globalAlpha = 1;
    g.lineWidth = 2;
    g.strokeStyle = color("--rx");
    trace(g, ps.hist, "rx", x, y, false);
    g.setLineDash([6, 4]);
    g.strokeStyle = color("--tx");
    trace(g, ps.hist, "tx", x, y, false);
    g.restore();
  }

  function drawAll() {
    for (const ps of paths.values())
      drawGraph(ps);
  }

  // ---- the poll ----

  async function poll() {
    const t0 = performance.now();
    const [st, fl] = await Promise.allSettled([
      getJSON("/status"),
      getJSON("/flows?limit=" + FLOW_LIMIT),
    ]);

    if (st.status === "fulfilled" && isObj(st.value)) {
      updateStatus(st.value);
      updateFlows(fl.value, fl.status === "rejected" ? fl.reason : null);
      polls++;
      document.body.dataset.polls = String(polls);
      setConn(true);
    } else {
      setConn(false, st.reason || new Error("not a JSON object"));
    }
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - t0)));
  }

  window.addEventListener("resize", drawAll);
  poll();
})();
