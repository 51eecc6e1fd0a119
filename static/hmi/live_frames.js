/*
 * Compact live frames (hmi/live_frames.py says what a frame holds): a push of tag values
 * arrives as JSON, not as HTML, and is applied here to the value elements the page already
 * has, as hmi/readings.py would draw them: the condition's class and flag, the text, data-ts,
 * data-v, data-stale-at, the title and "last good" times in the plant's zone, the gauge's
 * pointer and setpoint marker. Values whose element must change shape come whole, in `h`, and
 * are swapped by id. Either way a value older than the one shown is not applied, and
 * sparklines take the new value (hmi.js). HTML messages (snapshots, setpoints, alarms) are
 * left to htmx.
 */
(function () {
  "use strict";

  // hmi/readings.py's geometry: the radial gauge's centre, radius and sweep; the bar's width.
  var CX = 60, CY = 54, R = 42, START_DEG = 150, SWEEP_DEG = 240, BAR_W = 200;
  var STATUSES = ["is-ok", "is-uncertain", "is-stale", "is-bad", "is-none"];
  var SVG = "http://www.w3.org/2000/svg";

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var message = event.detail.message;
    if (typeof message !== "string" || message.charAt(0) !== "{") {
      return; // HTML: htmx swaps it
    }
    event.preventDefault();
    var frame = JSON.parse(message);
    var whole = true;
    (frame.v || []).forEach(function (row) {
      whole = apply(row, frame.z) && whole;
    });
    if (frame.h) {
      swapWhole(frame.h);
    }
    if (!whole) {
      // An element of another shape than the frame expects (it had no value when the page
      // drew it): the server sends every element anew on a new connection.
      event.detail.socketWrapper.reconnect();
    }
  });

  /* One row: [pk, status, text, ts_ms, value, position, setpoint, good, stale_s]. */
  function apply(row, zone) {
    var element = document.getElementById("tag-" + row[0]);
    if (!element) {
      return true;
    }
    var ts = row[3];
    if (ts < Number(element.dataset.ts || 0)) {
      return true; // a late, older value never moves a value backwards
    }
    var text = element.querySelector(".reading-value");
    var since = element.querySelector(".reading-since");
    var pointer = element.querySelector(".gauge-pointer");
    if (!text || !since || (row[5] !== null && !pointer)) {
      return false;
    }
    var status = row[1];
    STATUSES.forEach(function (name) {
      element.classList.remove(name);
    });
    element.classList.add("is-" + status);
    element.dataset.ts = String(ts);
    element.dataset.v = String(row[4]);
    if (row[8]) {
      element.dataset.staleAt = new Date(ts + row[8] * 1000).toISOString();
    } else {
      element.removeAttribute("data-stale-at");
    }
    element.title = local(ts, zone).slice(0, 19) + " " + zone[1];
    text.textContent = row[2];
    var flag = element.querySelector(".reading-flag");
    if (flag) {
      flag.textContent = status === "ok" ? "" : status;
    }
    var good = row[7];
    since.textContent =
      good < 0 ? "no good value yet" : "last good " + local(good || ts, zone).slice(11, 19);
    if (pointer) {
      draw(element, pointer, row[5], row[6]);
    }
    window.hmiSparklines.extend(row[0], ts, row[4], status === "bad");
    return true;
  }

  /* "2026-12-03 14:03:07.250Z": epoch ms as the plant's clock shows it (offset in seconds). */
  function local(ms, zone) {
    return new Date(ms + zone[0] * 1000).toISOString().replace("T", " ");
  }

  function polar(fraction, radius) {
    var angle = ((START_DEG + SWEEP_DEG * fraction) * Math.PI) / 180;
    return [round(CX + radius * Math.cos(angle), 2), round(CY + radius * Math.sin(angle), 2)];
  }

  function round(value, places) {
    var scale = Math.pow(10, places);
    return Math.round(value * scale) / scale;
  }

  function draw(element, pointer, position, setpoint) {
    var svg = pointer.ownerSVGElement;
    var radial = svg.classList.contains("gauge-radial");
    var mini = svg.classList.contains("gauge-mini");
    if (radial) {
      var inner = polar(position, R - 13), outer = polar(position, R + 6);
      pointer.setAttribute("x1", inner[0]);
      pointer.setAttribute("y1", inner[1]);
      pointer.setAttribute("x2", outer[0]);
      pointer.setAttribute("y2", outer[1]);
    } else {
      pointer.setAttribute("x", (position * BAR_W).toFixed(1));
    }
    if (mini) {
      return; // plant tiles show no setpoint
    }
    var marker = svg.querySelector(".gauge-setpoint");
    if (setpoint === null) {
      if (marker) {
        marker.remove();
      }
      return;
    }
    if (!marker) {
      marker = document.createElementNS(SVG, "polygon");
      marker.setAttribute("class", "gauge-setpoint");
      svg.insertBefore(marker, pointer);
    }
    var points;
    if (radial) {
      points = [polar(setpoint, R + 5), polar(setpoint - 0.025, R + 13),
        polar(setpoint + 0.025, R + 13)].map(function (p) { return p.join(","); }).join(" ");
    } else {
      var x = setpoint * BAR_W;
      points = x.toFixed(1) + ",9 " + (x - 4.5).toFixed(1) + ",1 " + (x + 4.5).toFixed(1) + ",1";
    }
    marker.setAttribute("points", points);
  }

  /* Whole elements, swapped by id as htmx's out-of-band swap would. */
  function swapWhole(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.from(template.content.children).forEach(function (incoming) {
      var old = document.getElementById(incoming.id);
      if (!old || Number(incoming.dataset.ts || 0) < Number(old.dataset.ts || 0)) {
        return;
      }
      old.replaceWith(incoming);
      if (incoming.dataset.v !== undefined) {
        window.hmiSparklines.extend(incoming.id.slice("tag-".length), Number(incoming.dataset.ts),
          Number(incoming.dataset.v), incoming.classList.contains("is-bad"));
      }
    });
  }
})();
