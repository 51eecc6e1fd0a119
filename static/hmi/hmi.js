/*
 * SCADA-lite HMI: the little the server cannot do.
 *
 * 1. htmx swaps 422 responses, so a form that fails validation is re-rendered in place with
 *    status 422 (htmx 2 ignores 4xx responses by default).
 * 2. A value that stops arriving turns stale even without a push: every value element carries
 *    data-stale-at, and once that time passes it is marked as the server would mark it.
 * 3. Live sockets (htmx's ws extension) reconnect with a capped, jittered backoff; on every
 *    connect the server sends a snapshot of the screen, so a tab resynchronises by itself.
 *    #live-status says in words whether the page is live, and the page dims while it is not.
 * 4. A pushed value older than the one shown (data-ts, the device's time) is not swapped in,
 *    so a late message can never move a value backwards.
 * 5. Sparklines (#spark-<tag>) take each pushed value of their tag and drop what is older
 *    than their window. Pushed values mostly come as compact frames (live_frames.js), which
 *    extend them through window.hmiSparklines.
 * 6. The status bar (#system-status) is polled over HTTP; it is swapped only when it changes
 *    (so a screen reader hears it once), never with a login page after the session ends, and
 *    while it says values are not current the live indicator does not say "live"; nor while
 *    the server has lost its channel layer (#live-feed, pushed by hmi.feeds).
 * 7. A socket the server closes for good (4401: the session ended; 4403: the screen is no
 *    longer the user's) is not reopened: the page says "signed out" and goes to the login.
 * 8. The theme switch in the header takes effect when a theme is picked (its Set button is
 *    for browsers without this script).
 */
(function () {
  "use strict";

  var RECONNECT_MAX_MS = 10000;
  var sockets = new Map(); // socket element → "connecting" | "open" | "closed"
  var everOpen = false;
  var valuesCurrent = true; // what the status bar last said
  var feedUp = true; // false while the server says it cannot receive pushes (#live-feed)
  var ended = false; // the server closed a socket for good (4401 signed out, 4403 forbidden)
  var leaving = false; // the page is navigating away (a form submit, a link): see signedOut
  window.addEventListener("beforeunload", function () {
    leaving = true;
  });
  window.addEventListener("pageshow", function () {
    leaving = false; // back from the bfcache: this page is live again
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true },
      ];
      htmx.config.wsReconnectDelay = reconnectDelay;
    }
    themeSwitch();
    markStale();
    window.setInterval(markStale, 1000);
    window.setInterval(redrawSparklines, 5000);
  });

  function themeSwitch() {
    var form = document.querySelector(".theme-switch");
    if (!form) {
      return;
    }
    form.querySelector("button").hidden = true;
    form.querySelector("select").addEventListener("change", function () {
      form.requestSubmit();
    });
  }

  /* Backoff: 0.5 s, 1 s, 2 s … capped at 10 s, each with jitter so tabs do not return at once. */
  function reconnectDelay(retryCount) {
    var ceiling = Math.min(RECONNECT_MAX_MS, 500 * Math.pow(2, retryCount));
    return ceiling * (0.5 + Math.random() / 2);
  }

  function markStale() {
    var now = Date.now();
    document.querySelectorAll(".reading[data-stale-at]").forEach(function (element) {
      if (Date.parse(element.dataset.staleAt) >= now) {
        return;
      }
      element.removeAttribute("data-stale-at");
      element.classList.remove("is-ok", "is-uncertain");
      element.classList.add("is-stale");
      var flag = element.querySelector(".reading-flag");
      if (flag) {
        flag.textContent = "stale";
      }
    });
  }

  /* Connection state ----------------------------------------------------------------------- */

  function track(event, state) {
    sockets.set(event.target, state);
    if (state === "open") {
      everOpen = true;
    }
    showConnection();
  }

  function showConnection() {
    if (ended) {
      return;
    }
    var states = Array.from(sockets.values());
    var open = states.length > 0 && states.every(function (s) { return s === "open"; });
    var current = valuesCurrent && feedUp;
    var state = open ? (current ? "live" : "stalled") : everOpen ? "lost" : "connecting";
    var text = {
      live: "live",
      stalled: "connected · values not current",
      lost: "connection lost · reconnecting",
      connecting: "connecting",
    };
    var status = document.getElementById("live-status");
    if (status && status.dataset.state !== state) {
      status.dataset.state = state;
      status.querySelector(".live-text").textContent = text[state];
    }
    document.body.classList.toggle("is-offline", state !== "live");
  }

  document.addEventListener("htmx:wsConnecting", function (event) {
    track(event, "connecting");
  });
  document.addEventListener("htmx:wsOpen", function (event) {
    track(event, "open");
  });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    // 4401: the session ended (logout, timeout); 4403: the user may no longer see this screen
    // (hmi.consumers). Neither is retried (the extension retries only 1006 and 1011-1013):
    // the page says so, and with the session gone it goes to the login.
    if (code === 4401 || code === 4403) {
      signedOut(code);
      return;
    }
    track(event, "closed");
    // The extension retries only after abnormal closes; a server that restarts cleanly
    // (1001 going away, 1000) must be retried too, or the screen would freeze.
    if ((code === 1000 || code === 1001) && document.body.contains(event.target)) {
      var wrapper = event.detail.socketWrapper;
      window.setTimeout(wrapper.reconnect, reconnectDelay(3));
    }
  });

  function signedOut(code) {
    ended = true;
    var status = document.getElementById("live-status");
    if (status) {
      status.dataset.state = code === 4401 ? "signed-out" : "forbidden";
      status.querySelector(".live-text").textContent =
        code === 4401 ? "signed out" : "no longer allowed · reload";
    }
    document.body.classList.add("is-offline");
    var login = document.body.dataset.loginUrl;
    // A page already leaving (the logout form's own submit closes its sockets too) must not
    // be sent elsewhere: the server's answer to the form decides where it goes.
    if (code === 4401 && login && !leaving) {
      // Django's own redirect_to_login keeps "/" readable: ?next=/lines/3/
      var next = encodeURIComponent(location.pathname + location.search).replace(/%2F/g, "/");
      window.location.href = login + "?next=" + next;
    }
  }

  /* Status bar ----------------------------------------------------------------------------- */

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "system-status") {
      return;
    }
    var xhr = event.detail.xhr;
    var fromStatus = xhr.responseURL.indexOf(target.getAttribute("hx-get").split("?")[0]) >= 0;
    if (!fromStatus || xhr.responseText === target.dataset.shown) {
      event.detail.shouldSwap = false;
      return;
    }
    target.dataset.shown = xhr.responseText;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "system-status") {
      valuesCurrent = !event.detail.target.querySelector('[data-values="stale"]');
      showConnection();
    }
  });

  /* Pushed values -------------------------------------------------------------------------- */

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "live-feed") {
      feedUp = event.detail.target.dataset.state !== "down";
      showConnection();
    }
  });

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var old = event.detail.target;
    var incoming = event.detail.fragment.firstElementChild;
    if (!incoming || !incoming.classList.contains("reading")) {
      return;
    }
    if (Number(incoming.dataset.ts || 0) < Number(old.dataset.ts || 0)) {
      event.detail.shouldSwap = false;
      return;
    }
    if (incoming.dataset.v !== undefined) {
      extendSparkline(incoming.id.slice("tag-".length), Number(incoming.dataset.ts),
        Number(incoming.dataset.v), incoming.classList.contains("is-bad"));
    }
  });

  /* A pushed value of a tag (epoch ms, number, bad quality?) extends its sparkline, if shown. */
  function extendSparkline(tagId, ts, value, bad) {
    var spark = document.getElementById("spark-" + tagId);
    if (!spark || bad) {
      return;
    }
    var points = pointsOf(spark);
    if (points.length && points[points.length - 1][0] >= ts) {
      return;
    }
    points.push([ts, value]);
    drawSparkline(spark);
  }
  // Compact frames (live_frames.js) are applied without htmx's swap events.
  window.hmiSparklines = { extend: extendSparkline };

  function pointsOf(spark) {
    if (!spark.hmiPoints) {
      spark.hmiPoints = JSON.parse(spark.dataset.points || "[]");
    }
    return spark.hmiPoints;
  }

  function redrawSparklines() {
    document.querySelectorAll(".spark").forEach(drawSparkline);
  }

  /* The same scaling as hmi/templatetags/hmi.py spark_points: a 200 × 40 box, own range. */
  function drawSparkline(spark) {
    var windowMs = Number(spark.dataset.windowS) * 1000;
    var start = Date.now() - windowMs;
    var points = pointsOf(spark);
    while (points.length > 1 && points[0][0] < start && points[1][0] <= start) {
      points.shift();
    }
    var values = points.map(function (p) { return p[1]; });
    var low = Math.min.apply(null, values);
    var span = Math.max.apply(null, values) - low || 1;
    var coords = points.map(function (p) {
      var x = Math.max(0, ((p[0] - start) / windowMs) * 200);
      return x.toFixed(1) + "," + (38 - ((p[1] - low) / span) * 36).toFixed(1);
    });
    spark.querySelector("polyline").setAttribute("points", coords.join(" "));
  }
})();
