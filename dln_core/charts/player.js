// DLN Lab playback: every snapshot-dependent view of one run, animated in the browser.
// Self-contained (no libraries, works offline). Data arrive once as window.DLN_PAYLOAD (built by
// dln_core/charts/playback.py); nothing here talks to the server, so playing never reruns the app.
(function () {
  "use strict";
  const P = window.DLN_PAYLOAD;
  const S = P.x.step.length;                  // number of snapshots
  const X = P.x[P.axis];                      // time coordinate of each snapshot
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf"];
  const NOW = "#d62728";
  const $ = (id) => document.getElementById(id);
  const state = { pos: P.start, playing: false, speed: 1, last: null, frames: 0, fps: 0,
                  fpsT0: null, fpsN: 0, az: -0.9, el: 0.55, drawn: 0 };

  // ------------------------------------------------------------------ small helpers
  const finite = (v) => v !== null && Number.isFinite(v);
  function fmtNum(v) {
    if (!finite(v)) return "—";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1).replace("e+", "e");
    return Number(v.toPrecision(3)).toString();
  }
  function fmtTime(v) {  // log-axis labels: 1, 10, 100, 1k, 10k, 100k, 1M
    if (v >= 1e6) return (v / 1e6) + "M";
    if (v >= 1e3) return (v / 1e3) + "k";
    if (v >= 1) return String(v);
    return v.toExponential(0).replace("e+", "e");
  }
  function niceTicks(lo, hi, n) {
    const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  // text with subscripts: "ΔW_{ℓ}" draws ℓ lowered and smaller
  function subText(ctx, text, x, y, size, align) {
    const parts = text.split(/(_\{[^}]*\})/).filter((s) => s.length);
    const big = size + "px sans-serif", small = Math.round(size * 0.72) + "px sans-serif";
    let w = 0;
    for (const p of parts) { ctx.font = p.startsWith("_{") ? small : big; w += ctx.measureText(p.startsWith("_{") ? p.slice(2, -1) : p).width; }
    let cx = align === "center" ? x - w / 2 : align === "right" ? x - w : x;
    ctx.textAlign = "left";
    for (const p of parts) {
      const sub = p.startsWith("_{"), s = sub ? p.slice(2, -1) : p;
      ctx.font = sub ? small : big;
      ctx.fillText(s, cx, sub ? y + size * 0.3 : y);
      cx += ctx.measureText(s).width;
    }
  }
  function setupCanvas(id) {
    const c = $(id), r = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * r)) { c.width = Math.round(w * r); c.height = Math.round(h * r); }
    const ctx = c.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }
  // What does not move with the playhead (axes, grid, guides, faint full curves) is drawn once per
  // canvas size into an offscreen canvas and copied in each frame.
  const layers = {};
  function withBackground(id, paintStatic) {
    const { ctx, w, h } = setupCanvas(id), r = window.devicePixelRatio || 1, key = w + "x" + h;
    let L = layers[id];
    if (!L || L.key !== key) {
      const off = document.createElement("canvas");
      off.width = Math.round(w * r); off.height = Math.round(h * r);
      const octx = off.getContext("2d");
      octx.setTransform(r, 0, 0, r, 0, 0);
      L = layers[id] = { key, off, fr: paintStatic(octx, w, h) };
    }
    ctx.drawImage(L.off, 0, 0, w, h);
    return { ctx, w, h, fr: L.fr };
  }
  // fractional snapshot position -> (index below, weight of the next one)
  function split(pos) { const i = Math.min(Math.floor(pos), S - 1); return [i, Math.min(pos - i, 1)]; }
  function lerp(arr, pos) {
    const [i, f] = split(pos);
    const a = arr[i], b = arr[Math.min(i + 1, S - 1)];
    if (!finite(a)) return a; if (!finite(b)) return a;
    return a + f * (b - a);
  }
  function nowX(pos) {  // time at the playhead, interpolated on the log axis
    const [i, f] = split(pos), a = X[i], b = X[Math.min(i + 1, S - 1)];
    if (a > 0 && b > 0) return Math.exp(Math.log(a) + f * (Math.log(b) - Math.log(a)));
    return a + f * (b - a);
  }

  // ------------------------------------------------------------------ time-series panels
  const xPos = X.filter((v) => v > 0);
  const xLo = Math.min(...xPos), xHi = Math.max(...xPos);
  function timeFrame(ctx, w, h, yLo, yHi, yTitle, yLog) {
    const m = { l: 64, r: 12, t: 10, b: 34 };
    const px = (v) => m.l + (Math.log(v) - Math.log(xLo)) / (Math.log(xHi) - Math.log(xLo) || 1) * (w - m.l - m.r);
    const ty = yLog ? (v) => Math.log10(v) : (v) => v;
    const lo = ty(yLo), hi = ty(yHi);
    const py = (v) => h - m.b - (ty(v) - lo) / (hi - lo || 1) * (h - m.t - m.b);
    ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#444"; ctx.lineWidth = 1; ctx.font = "11px sans-serif";
    ctx.beginPath(); ctx.moveTo(m.l, m.t); ctx.lineTo(m.l, h - m.b); ctx.lineTo(w - m.r, h - m.b); ctx.stroke();
    ctx.textAlign = "center";
    let lastRight = -1e9;  // skip a tick label that would overlap the previous one
    for (let e = Math.ceil(Math.log10(xLo)); e <= Math.floor(Math.log10(xHi)); e++) {
      const v = Math.pow(10, e), x = px(v), label = fmtTime(v), tw = ctx.measureText(label).width;
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, h - m.b); ctx.stroke();
      if (x - tw / 2 > lastRight + 4) { ctx.fillText(label, x, h - m.b + 14); lastRight = x + tw / 2; }
    }
    ctx.fillText(P.axis === "step" ? "step k (log)" : "time t = η·k (log)", m.l + (w - m.l - m.r) / 2, h - 4);
    ctx.textAlign = "right";
    const nT = Math.max(3, Math.min(5, Math.floor((h - m.t - m.b) / 28)));
    const ticks = yLog ? niceTicks(lo, hi, nT).filter((e) => Number.isInteger(e)).map((e) => Math.pow(10, e))
                       : niceTicks(yLo, yHi, nT);
    for (const v of ticks) { const y = py(v); ctx.fillText(fmtNum(v), m.l - 5, y + 4);
      ctx.strokeStyle = "#f2f2f2"; ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(w - m.r, y); ctx.stroke(); }
    ctx.save(); ctx.translate(10, m.t + (h - m.t - m.b) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
    ctx.fillStyle = "#444"; subText(ctx, yTitle, 0, 0, 11, "center"); ctx.restore();
    return { px, py, m };
  }
  // polyline of (X, ys) up to the playhead (upTo = pos) or in full (upTo = null)
  function curve(ctx, fr, ys, upTo, style) {
    ctx.strokeStyle = style.colour; ctx.lineWidth = style.width || 2; ctx.setLineDash(style.dash || []);
    ctx.globalAlpha = style.alpha || 1;
    ctx.beginPath();
    let pen = false;
    const end = upTo === null ? S - 1 : split(upTo)[0];
    for (let i = 0; i <= end; i++) {
      const x = X[i], y = ys[i];
      if (!(x > 0) || !finite(y) || (style.yLog && !(y > 0))) { pen = false; continue; }
      const cx = fr.px(x), cy = fr.py(y);
      if (pen) ctx.lineTo(cx, cy); else { ctx.moveTo(cx, cy); pen = true; }
    }
    if (upTo !== null && pen) {
      const y = lerp(ys, upTo), x = nowX(upTo);
      if (x > 0 && finite(y) && !(style.yLog && !(y > 0))) ctx.lineTo(fr.px(x), fr.py(y));
    }
    ctx.stroke(); ctx.setLineDash([]); ctx.globalAlpha = 1;
  }
  function nowRule(ctx, fr, h) {
    const x = nowX(state.pos);
    if (!(x > 0)) return;
    ctx.strokeStyle = NOW; ctx.lineWidth = 1.5; ctx.globalAlpha = 0.6;
    ctx.beginPath(); ctx.moveTo(fr.px(x), fr.m.t); ctx.lineTo(fr.px(x), h - fr.m.b); ctx.stroke(); ctx.globalAlpha = 1;
  }
  function range(arrays, yLog) {
    let lo = Infinity, hi = -Infinity;
    for (const a of arrays) for (const v of a) if (finite(v) && (!yLog || v > 0)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!Number.isFinite(lo)) return [0, 1];
    if (yLog) return [Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi)))];
    const pad = 0.05 * (hi - lo || Math.abs(hi) || 1);
    return [Math.min(0, lo - pad), hi + pad];
  }

  const lossRange = range([P.loss, P.levels]);
  function drawLoss() {
    const { ctx, h, fr } = withBackground("c_loss", (ctx, w, h) => {
      const fr = timeFrame(ctx, w, h, lossRange[0], lossRange[1], "loss ½‖·‖²");
      ctx.setLineDash([3, 3]); ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
      for (const v of P.levels) { const y = fr.py(v); ctx.beginPath(); ctx.moveTo(fr.m.l, y); ctx.lineTo(w - fr.m.r, y); ctx.stroke(); }
      ctx.setLineDash([]);
      curve(ctx, fr, P.loss, null, { colour: "#1f4e79", alpha: 0.12 });
      return fr;
    });
    curve(ctx, fr, P.loss, state.pos, { colour: "#1f4e79", width: 2.5 });
    nowRule(ctx, fr, h);
  }
  const modeRange = range([...P.modes.u, ...P.modes.gf, ...(P.modes.gd || [])]);
  function drawModes() {
    const { ctx, h, fr } = withBackground("c_modes", (ctx, w, h) => {
      const fr = timeFrame(ctx, w, h, modeRange[0], modeRange[1], "mode strength u_{i}");
      P.modes.lambda.forEach((lam, i) => {
        ctx.strokeStyle = COLOURS[i % 10]; ctx.globalAlpha = 0.25; ctx.lineWidth = 1;
        const y = fr.py(lam); ctx.beginPath(); ctx.moveTo(fr.m.l, y); ctx.lineTo(w - fr.m.r, y); ctx.stroke();
        ctx.globalAlpha = 1;
        curve(ctx, fr, P.modes.gf[i], null, { colour: COLOURS[i % 10], dash: [6, 4], alpha: 0.3, width: 1.5 });
      });
      return fr;
    });
    P.modes.lambda.forEach((lam, i) => {
      const c = COLOURS[i % 10];
      curve(ctx, fr, P.modes.gf[i], state.pos, { colour: c, dash: [6, 4], width: 1.5 });
      if (P.modes.gd) curve(ctx, fr, P.modes.gd[i], state.pos, { colour: c, dash: [2, 2], width: 1.5 });
      curve(ctx, fr, P.modes.u[i], state.pos, { colour: c, width: 2.5 });
    });
    nowRule(ctx, fr, h);
  }
  function metric(id, ys, title, yLog) {
    const { ctx, h, fr } = withBackground(id, (ctx, w, h) => {
      const rg = range([ys], yLog), fr = timeFrame(ctx, w, h, rg[0], rg[1], title, yLog);
      curve(ctx, fr, ys, null, { colour: "#2ca02c", alpha: 0.15, yLog });
      return fr;
    });
    curve(ctx, fr, ys, state.pos, { colour: "#2ca02c", width: 2, yLog });
    nowRule(ctx, fr, h);
  }

  // ------------------------------------------------------------------ alignment heatmaps
  function rdbu(v) {  // -1 red, 0 white, +1 blue
    const a = Math.max(-1, Math.min(1, v)), t = Math.abs(a);
    const to = a >= 0 ? [33, 102, 172] : [178, 24, 43];
    return `rgb(${Math.round(255 + t * (to[0] - 255))},${Math.round(255 + t * (to[1] - 255))},${Math.round(255 + t * (to[2] - 255))})`;
  }
  function drawAlignment() {
    const { ctx, w, h } = setupCanvas("c_align");
    const A = P.align, n = A.pairs.length;
    const cols = Math.min(n, Math.max(1, Math.floor(w / 120))), rows = Math.ceil(n / cols);
    const cell = Math.min((w - 10) / cols - 14, (h - 4) / rows - 24);
    const [i, f] = split(state.pos), j = Math.min(i + 1, S - 1);
    A.pairs.forEach((label, k) => {
      const gx = (k % cols) * (cell + 14) + 8, gy = Math.floor(k / cols) * (cell + 24) + 18;
      const R = A.rows[k], C = A.cols[k], a = A.values[k][i], b = A.values[k][j];
      const s = cell / Math.max(R, C);
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) {
        const v = a[r * C + c] + f * (b[r * C + c] - a[r * C + c]);
        ctx.fillStyle = rdbu(v); ctx.fillRect(gx + c * s, gy + r * s, s + 0.5, s + 0.5);
      }
      ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.strokeRect(gx, gy, C * s, R * s);
      ctx.fillStyle = "#333"; subText(ctx, label, gx + (C * s) / 2, gy - 5, 12, "center");
    });
  }

  // ------------------------------------------------------------------ update spectrum
  function drawSpectrum() {
    const { ctx, w, h } = setupCanvas("c_spec");
    const U = P.upd, L = U.values.length, i = Math.round(state.pos), noise = U.noise[i];
    const pw = (w - 20) / L, top = 22, bottom = h - 28;
    U.values.forEach((snaps, l) => {
      const vals = snaps[i], n = vals.length, x0 = 10 + l * pw, bw = (pw - 16) / n;
      ctx.fillStyle = "#333"; subText(ctx, U.labels[l], x0 + pw / 2, 14, 12, "center");
      ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(x0 + 4, bottom); ctx.lineTo(x0 + pw - 8, bottom); ctx.stroke();
      vals.forEach((v, k) => {
        const bh = finite(v) ? v * (bottom - top) : 0;
        ctx.fillStyle = noise ? "#c7c7c7" : "#4c78a8";
        ctx.fillRect(x0 + 6 + k * bw, bottom - bh, Math.max(bw - 2, 1), bh);
      });
      ctx.fillStyle = "#666"; ctx.font = "10px sans-serif"; ctx.textAlign = "center";
      ctx.fillText("index 1…" + n, x0 + pw / 2, bottom + 12);
    });
    ctx.textAlign = "center"; ctx.font = "11px sans-serif"; ctx.fillStyle = noise ? "#a33" : "#444";
    ctx.fillText(noise ? "converged: these updates are rounding noise, not a learning signal"
                       : "σ / σ_max of each layer's step; one tall bar = a rank-one update", w / 2, h - 4);
  }

  // ------------------------------------------------------------------ 3-D landscape (painter's algorithm)
  const Lg = P.land, G1 = Lg.w1.length, G2 = Lg.w2.length;
  const ext = Math.max(...Lg.w1.map(Math.abs), ...Lg.w2.map(Math.abs)) || 1;
  function project(x, y, z, w, h) {
    const ca = Math.cos(state.az), sa = Math.sin(state.az), ce = Math.cos(state.el), se = Math.sin(state.el);
    const X1 = (x / ext) * ca - (y / ext) * sa, Y1 = (x / ext) * sa + (y / ext) * ca, Z1 = z / Lg.zmax * 0.9 - 0.45;
    const sx = X1, sy = Y1 * se - Z1 * ce, depth = Y1 * ce + Z1 * se;
    const k = Math.min(w, h) * 0.36;
    return [w / 2 + sx * k, h / 2 + sy * k + 10, depth];
  }
  function viridis(t) {
    const st = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.max(0, Math.min(1, t)) * 4, i = Math.min(Math.floor(x), 3), f = x - i;
    return `rgb(${st[i].map((c, k) => Math.round(c + f * (st[i + 1][k] - c))).join(",")})`;
  }
  let surfCache = null;  // the surface only changes when the view turns: draw it once per angle
  function surfaceImage(w, h) {
    const key = [state.az, state.el, w, h].join();
    if (surfCache && surfCache.key === key) return surfCache.canvas;
    const r = window.devicePixelRatio || 1, off = document.createElement("canvas");
    off.width = Math.round(w * r); off.height = Math.round(h * r);
    const ctx = off.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    const quads = [];
    for (let a = 0; a < G2 - 1; a++) for (let b = 0; b < G1 - 1; b++) {
      const pts = [[a, b], [a, b + 1], [a + 1, b + 1], [a + 1, b]].map(([r, c]) => project(Lg.w1[c], Lg.w2[r], Lg.z[r][c], w, h));
      const zc = (Lg.z[a][b] + Lg.z[a + 1][b + 1]) / 2;
      quads.push([pts, (pts[0][2] + pts[2][2]) / 2, zc]);
    }
    quads.sort((p, q) => p[1] - q[1]);
    for (const [pts, , zc] of quads) {
      ctx.fillStyle = viridis(Math.sqrt(zc / Lg.zmax)); ctx.strokeStyle = ctx.fillStyle;
      ctx.beginPath(); ctx.moveTo(pts[0][0], pts[0][1]);
      for (let k = 1; k < 4; k++) ctx.lineTo(pts[k][0], pts[k][1]);
      ctx.closePath(); ctx.fill(); ctx.stroke();
    }
    ctx.fillStyle = "#222";
    const e1 = project(0, -ext * 1.25, 0, w, h), e2 = project(ext * 1.25, 0, 0, w, h);
    subText(ctx, "w_{1} (mode 1)", e1[0], e1[1], 12, "center");
    subText(ctx, "w_{2} (mode 2)", e2[0], e2[1], 12, "center");
    surfCache = { key, canvas: off };
    return off;
  }
  function drawLandscape() {
    const { ctx, w, h } = setupCanvas("c_land");
    ctx.drawImage(surfaceImage(w, h), 0, 0, w, h);
    // path so far, drawn on top so it is never hidden behind a fold of the surface
    const [i] = split(state.pos), pw1 = Lg.path.w1, pw2 = Lg.path.w2, pz = Lg.path.z;
    ctx.strokeStyle = NOW; ctx.lineWidth = 3; ctx.beginPath();
    let pen = false;
    const pt = (k) => project(pw1[k], pw2[k], Math.min(pz[k], Lg.zmax), w, h);
    for (let k = 0; k <= i; k++) { if (!finite(pw1[k]) || !finite(pw2[k])) { pen = false; continue; }
      const [x, y] = pt(k); if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; } }
    const cur = [lerp(pw1, state.pos), lerp(pw2, state.pos), Math.min(lerp(pz, state.pos), Lg.zmax)];
    if (cur.every(finite)) {
      const [x, y] = project(cur[0], cur[1], cur[2], w, h);
      if (pen) ctx.lineTo(x, y); ctx.stroke();
      ctx.fillStyle = NOW; ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill();
    } else ctx.stroke();
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif"; ctx.textAlign = "left";
    ctx.fillText(Lg.caption, 6, h - 6);
  }

  // ------------------------------------------------------------------ optional: RSA and sharpness
  function drawRSA() {
    if (!P.rsa) return;
    const { ctx, w, h } = setupCanvas("c_rsa");
    const R = P.rsa, n = R.items.length, [i, f] = split(state.pos), j = Math.min(i + 1, S - 1);
    const lab = 52, cell = Math.min((w - 2 * lab - 30) / (2 * n), (h - 30) / n);
    [["measured", R.measured], ["theory", R.theory]].forEach(([title, cube], k) => {
      const gx = lab + k * (n * cell + lab + 10), gy = 20, a = cube[i], b = cube[j];
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
        const v = a[r * n + c] + f * (b[r * n + c] - a[r * n + c]);
        ctx.fillStyle = rdbu(v); ctx.fillRect(gx + c * cell, gy + r * cell, cell + 0.5, cell + 0.5);
      }
      ctx.strokeStyle = "#bbb"; ctx.strokeRect(gx, gy, n * cell, n * cell);
      ctx.fillStyle = "#333"; ctx.font = "12px sans-serif"; ctx.textAlign = "center";
      ctx.fillText(title, gx + (n * cell) / 2, 13);
      ctx.font = "10px sans-serif"; ctx.textAlign = "right";
      R.items.forEach((it, r) => ctx.fillText(it, gx - 4, gy + (r + 0.5) * cell + 3));
    });
  }
  let sharpRange = null;
  function drawSharp() {
    if (!P.sharp) return;
    const Q = P.sharp;
    if (sharpRange === null) {
      const hi = Math.max(...Q.top.filter(finite), finite(Q.edge) ? Q.edge : 0, finite(Q.min) ? Q.min : 0);
      sharpRange = [Math.max(1e-3 * Math.max(...Q.top.filter(finite)), 1e-12), 1.3 * hi];
    }
    const clip = (ys) => ys.map((v) => (finite(v) ? Math.max(v, sharpRange[0]) : v));
    const { ctx, h, fr } = withBackground("c_sharp", (ctx, w, h) => {
      const fr = timeFrame(ctx, w, h, sharpRange[0], sharpRange[1], "eigenvalue (log)", true);
      for (const [v, col, dash] of [[Q.edge, "#d62728", []], [Q.min, "#555", [2, 2]]]) {
        if (!finite(v)) continue;
        ctx.strokeStyle = col; ctx.setLineDash(dash); ctx.lineWidth = 1.5;
        const y = fr.py(v); ctx.beginPath(); ctx.moveTo(fr.m.l, y); ctx.lineTo(w - fr.m.r, y); ctx.stroke();
        ctx.setLineDash([]);
      }
      curve(ctx, fr, clip(Q.top), null, { colour: "#1f4e9c", alpha: 0.15, yLog: true });
      return fr;
    });
    curve(ctx, fr, clip(Q.gn), state.pos, { colour: "#ff7f0e", dash: [5, 3], width: 1.5, yLog: true });
    curve(ctx, fr, clip(Q.top), state.pos, { colour: "#1f4e9c", width: 2.5, yLog: true });
    nowRule(ctx, fr, h);
  }

  // ------------------------------------------------------------------ transport bar + loop
  let drawMs = 0;
  function drawAll() {
    const t0 = performance.now();
    drawLoss(); drawModes(); drawAlignment(); drawSpectrum(); drawLandscape(); drawRSA(); drawSharp();
    metric("c_drift", P.drift, "drift ‖ΔH‖", false);
    metric("c_rank", P.rank, "eff. rank", false);
    const i = Math.round(state.pos);
    $("now").textContent = `step k = ${P.x.step[i].toLocaleString("en-US")}, t = η·k = ${fmtNum(P.x.t[i])}`;
    $("scrub").value = String(state.pos);
    drawMs = 0.9 * drawMs + 0.1 * (performance.now() - t0);
    document.body.dataset.drawms = drawMs.toFixed(2);
    state.drawn += 1;
    document.body.dataset.drawn = String(state.drawn);
    document.body.dataset.pos = state.pos.toFixed(3);
  }
  function setPlaying(on) {
    state.playing = on; state.last = null; state.fpsT0 = null; state.fpsN = 0;
    $("play").textContent = on ? "❚❚ Pause" : "▶ Play";
    document.body.dataset.playing = on ? "1" : "0";
    if (on) requestAnimationFrame(tick);
  }
  function tick(ts) {
    if (!state.playing) return;
    if (state.last !== null) {
      const dt = Math.min((ts - state.last) / 1000, 0.25);
      state.pos = Math.min(state.pos + dt * state.speed * (S - 1) / P.seconds, S - 1);
    }
    state.last = ts;
    drawAll();
    if (state.fpsT0 === null) { state.fpsT0 = ts; state.fpsN = 0; } else state.fpsN += 1;
    if (ts - state.fpsT0 > 500) { state.fps = (state.fpsN * 1000) / (ts - state.fpsT0); document.body.dataset.fps = state.fps.toFixed(1); }
    if (state.pos >= S - 1) { setPlaying(false); return; }
    requestAnimationFrame(tick);
  }
  $("play").onclick = () => { if (!state.playing && state.pos >= S - 1) state.pos = 0; setPlaying(!state.playing); };
  $("reset").onclick = () => { setPlaying(false); state.pos = 0; drawAll(); };
  $("end").onclick = () => { setPlaying(false); state.pos = S - 1; drawAll(); };
  $("scrub").max = String(S - 1);
  $("scrub").oninput = (e) => { setPlaying(false); state.pos = parseFloat(e.target.value); drawAll(); };
  $("speed").onchange = (e) => { state.speed = parseFloat(e.target.value); };
  // drag the landscape to turn it
  let drag = null;
  $("c_land").onpointerdown = (e) => { drag = [e.clientX, e.clientY, state.az, state.el]; };
  window.onpointerup = () => { drag = null; };
  $("c_land").onpointermove = (e) => {
    if (!drag) return;
    state.az = drag[2] + (e.clientX - drag[0]) * 0.01;
    state.el = Math.max(0.05, Math.min(1.5, drag[3] + (e.clientY - drag[1]) * 0.01));
    if (!state.playing) drawAll();
  };
  window.onresize = drawAll;
  window.dlnPlayer = { state, drawAll, setPlaying, S };
  drawAll();
})();
