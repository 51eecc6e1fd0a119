/*
 * The trend page: draws the chosen tags with uPlot from /api/history/.
 *
 * One y-axis per unit. Buckets come with their minimum and maximum, drawn as a band around
 * the average, so a short spike stays visible in a long range. A bucket the server does not
 * send had no data: the line breaks there. Zoom and pan ask the server again for the new
 * window, so zooming in reaches the raw values. While the range ends now, the chart follows
 * the newest values by asking again every few seconds.
 */
(function () {
  "use strict";

  const configElement = document.getElementById("trend-config");
  const chartElement = document.getElementById("trend-chart");
  if (!configElement || !chartElement) return;

  const config = JSON.parse(configElement.textContent);
  const RANGES = { hour: 3600, shift: 8 * 3600, day: 86400, week: 7 * 86400 };
  /* The theme's colours (hmi.css, dark.css): the canvas cannot read CSS variables itself. */
  const css = getComputedStyle(document.documentElement);
  const themed = (name) => css.getPropertyValue(name).trim();
  const COLORS = themed("--trend-series").split(/\s+/).filter(Boolean);
  const INK = themed("--text");
  const GRID = themed("--track");
  const POLL_MS = 5000;
  const RELOAD_DELAY_MS = 250;
  const HEIGHT = 420;

  const status = document.getElementById("trend-status");
  const legend = document.getElementById("trend-legend");
  const markerList = document.getElementById("trend-markers");
  const exportLink = document.getElementById("trend-export");
  const tags = config.tags;

  const view = {
    range: config.range,
    start: Date.parse(config.start) / 1000,
    end: Date.parse(config.end) / 1000,
    live: config.live,
  };
  let plot = null;
  let series = [];
  let markers = [];
  let inFlight = null;
  let reloadTimer = null;
  let loads = 0;
  let latest = {};

  // Swedish writes dates as ISO does (2026-11-24 06:40:00), so every reader can parse them.
  const timeFormat = new Intl.DateTimeFormat("sv-SE", {
    timeZone: config.timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString();
  }

  function query(extra) {
    const params = new URLSearchParams();
    tags.forEach((tag) => params.append("tag", tag.id));
    params.set("start", iso(view.start));
    params.set("end", iso(view.end));
    Object.entries(extra || {}).forEach(([key, value]) => params.set(key, value));
    return params.toString();
  }

  /* A refresh of the live tail is no activity of the user's (hmi/login_security.py): it must
     not keep an idle session alive. */
  function backgroundRequest(background) {
    const headers = { Accept: "application/json" };
    if (background) headers["X-HMI-Background"] = "1";
    return headers;
  }

  async function getJson(url, signal, background) {
    const response = await fetch(url, { signal, headers: backgroundRequest(background) });
    /* The session ended (idle, logged out elsewhere): the server names the login page. */
    const login = response.headers.get("HX-Redirect");
    if (login) {
      window.location.href = login;
      throw new Error("signed out");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }

  /* Load the history of the current view and draw it; a newer load cancels an older one. */
  async function load(background) {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    chartElement.dataset.state = "loading";
    const points = Math.max(200, Math.min(5000, Math.round(chartElement.clientWidth || 1000)));
    try {
      const [answer, found] = await Promise.all([
        getJson(`${config.urls.history}?${query({ points })}`, controller.signal, background),
        getJson(`${config.urls.markers}?${query()}`, controller.signal, background),
      ]);
      series = answer.series;
      markers = found.markers;
      draw();
      loads += 1;
      chartElement.dataset.state = "ready";
      chartElement.dataset.range = view.range;
      chartElement.dataset.loads = String(loads);
      chartElement.dataset.points = String(plot.data[0].length);
      say(describe());
      if (view.live) loadLatest(controller.signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      chartElement.dataset.state = "error";
      say(`Could not load the history: ${error.message}`);
    } finally {
      if (inFlight === controller) inFlight = null;
    }
    updateAddress();
  }

  /* The newest value of each tag, shown in the legend while the cursor is off the chart. */
  async function loadLatest(signal) {
    const params = new URLSearchParams();
    tags.forEach((tag) => params.append("tag", tag.id));
    const found = await getJson(`${config.urls.current}?${params}`, signal).catch(() => null);
    if (!found) return;
    latest = Object.fromEntries(found.values.map((v) => [v.tag, v]));
    if (plot) showCursorValues(plot);
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function describe() {
    const widths = series.map((s) => (s.bucket_s ? `buckets of ${duration(s.bucket_s)}` : "raw values"));
    return [...new Set(widths)].join(", ") + (view.live ? " · live" : "");
  }

  function duration(seconds) {
    if (seconds % 86400 === 0) return `${seconds / 86400} d`;
    if (seconds % 3600 === 0) return `${seconds / 3600} h`;
    if (seconds % 60 === 0) return `${seconds / 60} min`;
    return `${seconds} s`;
  }

  /* One table per tag for uPlot.join: times, then avg (or value), min, max. */
  function table(s) {
    const times = [], mid = [], low = [], high = [];
    const raw = s.bucket_s === null;
    for (let i = 0; i < s.time.length; i++) {
      const t = Date.parse(s.time[i]) / 1000;
      const previous = times[times.length - 1];
      if (previous !== undefined && t - previous > s.max_gap_s) {
        // An explicit null breaks the line (join's own fill, undefined, does not).
        times.push((previous + t) / 2); mid.push(null); low.push(null); high.push(null);
      }
      times.push(t);
      if (raw) {
        const bad = s.quality[i] === "bad";
        mid.push(bad ? null : s.value[i]); low.push(null); high.push(null);
      } else {
        mid.push(s.avg[i]); low.push(s.min[i]); high.push(s.max[i]);
      }
    }
    return [times, mid, low, high];
  }

  const clock = new Intl.DateTimeFormat("en-GB", {
    timeZone: config.timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const clockSeconds = new Intl.DateTimeFormat("en-GB", {
    timeZone: config.timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const day = new Intl.DateTimeFormat("en-GB", { timeZone: config.timeZone, day: "numeric", month: "short" });

  /* Time-axis labels as the plant's clocks read, 24-hour; the date under each new day. */
  function timeLabels(u, splits, axisIndex, space, increment) {
    let lastDay = null;
    return splits.map((seconds) => {
      const moment = new Date(seconds * 1000);
      const date = day.format(moment);
      if (increment >= 86400) return date;
      const time = (increment < 60 ? clockSeconds : clock).format(moment);
      const label = date !== lastDay ? `${time}\n${date}` : time;
      lastDay = date;
      return label;
    });
  }

  function unitKey(unit) {
    return unit || "(no unit)";
  }

  function options(width) {
    const units = [...new Set(series.map((s) => unitKey(s.unit)))];
    const uSeries = [{}];
    const bands = [];
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const scale = unitKey(s.unit);
      const paths = s.data_type === "bool" ? uPlot.paths.stepped({ align: 1 }) : undefined;
      const base = 1 + i * 3;
      uSeries.push({ label: s.name, scale, stroke: color, width: 1.5, spanGaps: false, paths });
      uSeries.push({ label: `${s.name} min`, scale, stroke: color + "55", width: 0.5, spanGaps: false, paths });
      uSeries.push({ label: `${s.name} max`, scale, stroke: color + "55", width: 0.5, spanGaps: false, paths });
      bands.push({ series: [base + 2, base + 1], fill: color + "22" });
    });
    const scales = { x: { time: true } };
    units.forEach((unit) => { scales[unit] = { auto: true }; });
    /* A scale of vibration tags reaches from 0 past their C/D boundary, so every zone shows. */
    series.forEach((s) => {
      const tag = tags.find((t) => t.id === s.tag);
      if (!tag || !tag.zones) return;
      const top = tag.zones.cd * 1.15;
      scales[unitKey(s.unit)].range = (u, low, high) => [
        Math.min(low === null ? 0 : low, 0), Math.max(high === null ? top : high, top),
      ];
    });
    const axes = [{ stroke: INK, grid: { stroke: GRID }, values: timeLabels, space: 70 }].concat(
      units.map((unit, i) => ({
        scale: unit, label: unit, side: i % 2 ? 1 : 3, stroke: INK,
        grid: { show: i === 0, stroke: GRID }, size: 60,
      })),
    );
    return {
      width, height: HEIGHT, series: uSeries, bands, scales, axes,
      legend: { show: false },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), config.timeZone),
      // uPlot only draws the selection; onSelect turns it into a new window to load.
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: { setSelect: [onSelect], setCursor: [showCursorValues], draw: [drawZones, drawMarkers] },
    };
  }

  function draw() {
    const data = uPlot.join(series.map(table));
    if (data.length === 0 || series.length === 0) return;
    const signature = series.map((s) => `${s.tag}:${s.unit}:${s.data_type}`).join(",");
    if (plot && plot.signature === signature) {
      plot.setData(data, false);
    } else {
      if (plot) {
        plot.stopGestures();
        plot.destroy();
      }
      plot = new uPlot(options(chartElement.clientWidth), data, chartElement);
      plot.signature = signature;
      plot.stopGestures = window.trendGestures(plot, { zoomAround, panBy });
    }
    plot.setScale("x", { min: view.start, max: view.end });
    buildLegend();
    listMarkers();
  }

  /* A zoom by dragging across the chart: show and fetch the selected window. */
  function onSelect(u) {
    if (u.select.width < 2) return;
    const start = u.posToVal(u.select.left, "x");
    const end = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    preview(start, end);
  }

  function setView(start, end, { immediate = false } = {}) {
    view.start = start;
    view.end = end;
    view.live = false;
    view.range = "custom";
    markRange();
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, immediate ? 0 : RELOAD_DELAY_MS);
  }

  /* Show the window at once while its data loads. */
  function preview(start, end) {
    plot.setScale("x", { min: start, max: end });
    setView(start, end);
  }

  function zoomAround(center, factor) {
    const start = center - (center - plot.scales.x.min) * factor;
    const end = center + (plot.scales.x.max - center) * factor;
    preview(start, end);
  }

  function panBy(seconds) {
    preview(plot.scales.x.min + seconds, plot.scales.x.max + seconds);
  }

  function format(value, precision) {
    return value === null || value === undefined ? "—" : value.toFixed(precision);
  }

  function buildLegend() {
    legend.replaceChildren(...series.map((s, i) => {
      const item = document.createElement("li");
      item.id = `trend-legend-${s.tag}`;
      item.innerHTML = '<span class="swatch"></span><span class="name"></span> <span class="value"></span>';
      item.querySelector(".swatch").style.background = COLORS[i % COLORS.length];
      item.querySelector(".name").textContent = s.unit ? `${s.name} (${s.unit})` : s.name;
      return item;
    }));
    showCursorValues(plot);
  }

  function showCursorValues(u) {
    const index = u.cursor.idx;
    series.forEach((s, i) => {
      const element = legend.querySelector(`#trend-legend-${s.tag} .value`);
      if (!element) return;
      if (index === null || index === undefined) {
        const now = latest[s.tag];
        element.textContent = now && now.time ? `now ${now.formatted} (${now.quality})` : "";
        return;
      }
      const precision = tags[i] ? tags[i].precision : 2;
      const base = 1 + i * 3;
      const [mid, low, high] = [u.data[base][index], u.data[base + 1][index], u.data[base + 2][index]];
      const range = low !== null && low !== undefined ? ` (${format(low, precision)} – ${format(high, precision)})` : "";
      element.textContent = `${timeFormat.format(new Date(u.data[0][index] * 1000))}: ${format(mid, precision)}${range}`;
    });
  }

  /* A vibration tag's ISO 10816-3 zones on its own y-scale: zone C shaded light, zone D
     darker, a dashed line with its name at each boundary (grey: only alarms bring colour). */
  const ZONE_LINES = [["ab", "A/B"], ["bc", "B/C"], ["cd", "C/D"]];

  function drawZones(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    series.forEach((s) => {
      const tag = tags.find((t) => t.id === s.tag);
      const zones = tag && tag.zones;
      const scale = unitKey(s.unit);
      if (!zones || !u.scales[scale] || u.scales[scale].min === undefined) return;
      const y = (value) => Math.round(u.valToPos(value, scale, true));
      const clampY = (value) => Math.min(top + height, Math.max(top, y(value)));
      ctx.fillStyle = INK; /* the theme's text colour, faintly: dark on light, light on dark */
      ctx.globalAlpha = 0.06;
      ctx.fillRect(left, clampY(zones.cd), width, clampY(zones.bc) - clampY(zones.cd));
      ctx.globalAlpha = 0.14;
      ctx.fillRect(left, top, width, clampY(zones.cd) - top);
      ctx.globalAlpha = 1;
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1;
      ctx.strokeStyle = themed("--muted");
      ctx.fillStyle = themed("--muted");
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.font = `${Math.round(11 * (window.devicePixelRatio || 1))}px system-ui, sans-serif`;
      ZONE_LINES.forEach(([key, label]) => {
        const at = y(zones[key]);
        if (at < top || at > top + height) return;
        ctx.beginPath();
        ctx.moveTo(left, at);
        ctx.lineTo(left + width, at);
        ctx.stroke();
        ctx.fillText(`${label} ${zones[key]}`, left + 4, at - 3);
      });
    });
    ctx.restore();
    chartElement.dataset.zones = String(series.filter((s) => {
      const tag = tags.find((t) => t.id === s.tag);
      return tag && tag.zones;
    }).length);
  }

  /* Setpoint writes and alarm events: a dashed line on the time axis, listed below. */
  function drawMarkers(u) {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = 1;
    markers.forEach((marker) => {
      const x = Math.round(u.valToPos(Date.parse(marker.time) / 1000, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.strokeStyle = marker.kind === "alarm" ? themed("--error-text") : themed("--muted");
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(marker.kind === "alarm" ? "A" : "S", x + 3, top + 12);
    });
    ctx.restore();
  }

  function listMarkers() {
    if (!markerList) return;
    if (markers.length === 0) {
      markerList.innerHTML = '<li class="muted">None in this range.</li>';
      return;
    }
    markerList.replaceChildren(...markers.map((marker) => {
      const item = document.createElement("li");
      item.className = `marker marker-${marker.kind}`;
      item.textContent = `${timeFormat.format(new Date(marker.time))} · ${marker.kind} · ${marker.text}`;
      return item;
    }));
  }

  /* Keep the address and the export link in step, so a reload or a shared link shows this view. */
  function updateAddress() {
    const params = new URLSearchParams();
    tags.forEach((tag) => params.append("tag", tag.id));
    params.set("range", view.range);
    if (view.range === "custom") {
      params.set("start", localInput(view.start));
      params.set("end", localInput(view.end));
    }
    history.replaceState(null, "", `?${params}`);
    const [startInput, endInput] = ["start", "end"].map((name) => document.querySelector(`input[name=${name}]`));
    if (startInput) startInput.value = localInput(view.start);
    if (endInput) endInput.value = localInput(view.end);
    if (exportLink) exportLink.href = `${config.urls.export}?${query()}`;
  }

  /* An instant as the plant's wall clock shows it, as a datetime-local input wants it. */
  function localInput(seconds) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-CA", {
        timeZone: config.timeZone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hour12: false,
      }).formatToParts(new Date(seconds * 1000)).map((p) => [p.type, p.value]),
    );
    const hour = parts.hour === "24" ? "00" : parts.hour;
    return `${parts.year}-${parts.month}-${parts.day}T${hour}:${parts.minute}`;
  }

  function markRange() {
    document.querySelectorAll(".range-button").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.value === view.range));
    });
  }

  function showRange(key) {
    const now = Date.now() / 1000;
    view.range = key;
    view.start = now - RANGES[key];
    view.end = now;
    view.live = true;
    markRange();
    load();
  }

  /* The relative ranges switch without a page load; "Custom" still submits the form. */
  document.querySelectorAll(".range-button").forEach((button) => {
    if (!(button.value in RANGES)) return;
    button.addEventListener("click", (event) => {
      event.preventDefault();
      showRange(button.value);
    });
  });

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => {
      if (!plot) return;
      const span = plot.scales.x.max - plot.scales.x.min;
      const action = button.dataset.action;
      if (action === "back") panBy(-span / 2);
      else if (action === "forward") panBy(span / 2);
      else if (action === "zoom-out") zoomAround((plot.scales.x.min + plot.scales.x.max) / 2, 2);
      else if (action === "reset") showRange(config.range in RANGES ? config.range : "hour");
    });
  });

  window.addEventListener("resize", () => {
    if (plot) plot.setSize({ width: chartElement.clientWidth, height: HEIGHT });
  });

  /* The live tail: while the range ends now, move it along and ask again. */
  setInterval(() => {
    if (!view.live || document.hidden || inFlight) return;
    const span = view.end - view.start;
    view.end = Date.now() / 1000;
    view.start = view.end - span;
    load(true);
  }, POLL_MS);

  window.trend = { view, get plot() { return plot; }, load };
  load();
})();
