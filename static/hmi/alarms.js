/* The alarm banner of every page: fetched on load and whenever an alarm of a visible plant
 * changes (an alarm.changed push on the plant's socket), with an audible alert for new
 * critical and high alarms that the user can silence for a while.
 *
 * The gas emergency screen (hmi/fragments/emergency.html) is part of the banner. While one is
 * open the banner is fetched every EMERGENCY_REFRESH_MS, over HTTP so it keeps speaking while
 * the websocket or Redis is down, and its gas values and action states (data-live) are
 * patched in place by id, so focus, typing and screen readers are not disturbed; the time
 * since each alarm counts every second. An operator may collapse the screen to a strip that
 * stays on every page until the alarm is acknowledged; the choice is kept per activation
 * (localStorage), so a new emergency opens the full screen again. */
(function () {
  "use strict";
  const banner = document.getElementById("alarm-banner");
  if (!banner || !banner.dataset.src) return;
  const SILENCE_KEY = "scada.alarmSilencedUntil";
  const SILENCE_MINUTES = 5;
  const REPEAT_MS = 10000;
  const COLLAPSED_KEY = "scada.emergencyCollapsed";
  const EMERGENCY_REFRESH_MS = 2000;
  const sockets = {};
  const heard = new Set();
  let alerting = [];
  let audio = null;
  let pending = null;
  let emergencyTimer = null;
  let shownKeys = ""; /* the activations the full screen showed last */
  let barAsFetched = ""; /* the alarm bar as last swapped in, before alert() touched it */

  function silenced() {
    return Date.now() < Number(localStorage.getItem(SILENCE_KEY) || 0);
  }

  /* Three short tones from WebAudio: no sound file, works offline. */
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      for (let i = 0; i < 3; i++) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.2;
        osc.connect(gain).connect(audio.destination);
        const at = audio.currentTime + i * 0.3;
        osc.start(at);
        osc.stop(at + 0.18);
      }
      document.body.dataset.alarmBeeps = String(Number(document.body.dataset.alarmBeeps || 0) + 1);
    } catch (error) {
      /* No audio (a browser policy before any click): the banner still shows. */
    }
  }

  function showSilence(bar) {
    const button = bar.querySelector(".alarm-silence");
    if (!button || !alerting.length) return;
    button.hidden = false;
    button.textContent = silenced() ? "Alarm sound silenced" : `Silence ${SILENCE_MINUTES} min`;
    button.onclick = function () {
      localStorage.setItem(SILENCE_KEY, String(Date.now() + SILENCE_MINUTES * 60000));
      button.textContent = "Alarm sound silenced";
    };
  }

  function alert(bar) {
    alerting = (bar.dataset.alerting || "").split(" ").filter(Boolean);
    const fresh = alerting.filter((id) => !heard.has(id));
    alerting.forEach((id) => heard.add(id));
    showSilence(bar);
    if (fresh.length && !silenced()) beep();
  }

  let leaving = false; /* the page is navigating away: see refresh */
  addEventListener("beforeunload", () => { leaving = true; });
  addEventListener("pageshow", () => { leaving = false; });

  async function refresh() {
    const here = location.pathname + location.search;
    /* While an emergency shows, the next fetch comes whatever this one meets (the server
       away, an error): emergencyView schedules it again after a good one. */
    clearTimeout(emergencyTimer);
    if (banner.querySelector("#emergency-banner")) {
      emergencyTimer = setTimeout(refresh, EMERGENCY_REFRESH_MS);
    }
    let response;
    try {
      /* A refresh is no activity of the user's: it must not keep an idle session alive. */
      response = await fetch(`${banner.dataset.src}?next=${encodeURIComponent(here)}`, {
        credentials: "same-origin",
        headers: { "X-HMI-Background": "1" },
      });
    } catch (error) {
      return; /* the server is unreachable: the banner keeps what it showed */
    }
    /* The session ended (idle, logged out elsewhere): the server names the login page. */
    const login = response.headers.get("HX-Redirect");
    /* A page already leaving (the logout form's submit) goes where the server's answer says. */
    if (login && leaving) return;
    if (login) {
      window.location.href = login;
      return;
    }
    if (!response.ok || response.redirected) return;
    const html = await response.text();
    const fresh = document.createElement("template");
    fresh.innerHTML = html;
    if (!patch(fresh.content)) {
      /* Someone is acknowledging: typing a comment, or pressing the button of a form whose
         comment has text (focus is on the button then). Swapping the banner now would submit
         a fresh, empty form instead; the next alarm change or page load refreshes it. Checked
         after the body has arrived, right before the swap: typing may start while it arrives. */
      const typed = [...banner.querySelectorAll("input[name=comment]")].some((input) => input.value);
      if (typed && banner.contains(document.activeElement)) return;
      banner.innerHTML = html;
      const bar = fresh.content.querySelector(".alarm-bar");
      barAsFetched = bar ? bar.outerHTML : "";
    }
    emergencyView();
    const bar = banner.querySelector(".alarm-bar");
    if (!bar) return;
    connect((bar.dataset.plants || "").split(" ").filter(Boolean));
    alert(bar);
  }

  /* The same banner with the same emergencies open: only its data-live elements changed
     (values, action states). Swap those by id and say true; false when a whole swap is due. */
  function patch(fresh) {
    const old = banner.querySelector("#emergency-banner");
    const now = fresh.querySelector("#emergency-banner");
    if (!old || !now || old.dataset.keys !== now.dataset.keys) return false;
    const freshBar = fresh.querySelector(".alarm-bar");
    if (!freshBar || freshBar.outerHTML !== barAsFetched) return false;
    const live = [...fresh.querySelectorAll("[data-live]")];
    if (live.length !== banner.querySelectorAll("[data-live]").length) return false;
    for (const element of live) {
      const current = document.getElementById(element.id);
      if (!current) return false;
      if (current.outerHTML !== element.outerHTML) current.replaceWith(element);
    }
    return true;
  }

  function collapsedKeys() {
    try {
      return JSON.parse(localStorage.getItem(COLLAPSED_KEY) || "[]");
    } catch (error) {
      return [];
    }
  }

  /* Full screen, or the strip if the operator collapsed every activation shown; the page
     beneath the full screen is inert, so the keyboard cannot wander behind it. */
  function emergencyView() {
    const screen = banner.querySelector("#emergency-banner");
    const strip = banner.querySelector("#emergency-strip");
    const keys = screen ? screen.dataset.keys.split(" ") : [];
    const collapsed = collapsedKeys();
    const full = keys.length > 0 && keys.some((key) => !collapsed.includes(key));
    if (screen && strip) {
      screen.hidden = !full;
      strip.hidden = full;
      screen.querySelector(".emergency-collapse").onclick = () => {
        localStorage.setItem(COLLAPSED_KEY, JSON.stringify(keys));
        emergencyView();
        strip.querySelector(".emergency-expand").focus();
      };
      strip.querySelector(".emergency-expand").onclick = () => {
        localStorage.removeItem(COLLAPSED_KEY);
        emergencyView();
      };
    }
    document.body.classList.toggle("has-emergency", full);
    document.querySelectorAll("body > header, #system-status, #content").forEach((element) => {
      element.inert = full;
    });
    const joined = full ? keys.join(" ") : "";
    if (full && joined !== shownKeys) screen.querySelector("#emergency-title").focus();
    shownKeys = joined;
    tick();
    clearTimeout(emergencyTimer);
    emergencyTimer = keys.length ? setTimeout(refresh, EMERGENCY_REFRESH_MS) : null;
  }

  /* The time since each alarm, said as hmi.emergency_screen.elapsed_words says it. */
  function elapsed(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (hours) return `${hours} h ${two(minutes)} min`;
    if (minutes) return `${minutes} min ${two(secs)} s`;
    return `${secs} s`;
  }

  function tick() {
    banner.querySelectorAll(".emergency-elapsed[data-since]").forEach((element) => {
      const text = elapsed(Date.now() / 1000 - Number(element.dataset.since));
      if (element.textContent !== text) element.textContent = text;
    });
  }

  function schedule() {
    if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 30);
  }

  function connect(plantIds) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    plantIds.forEach((id) => {
      if (sockets[id]) return;
      const socket = new WebSocket(`${scheme}://${location.host}/ws/plant/${id}/`);
      sockets[id] = socket;
      socket.onmessage = (event) => {
        if (String(event.data).includes('id="alarm-signal"')) schedule();
      };
      socket.onopen = schedule; /* catch up on what changed while it was away */
      socket.onclose = (event) => {
        delete sockets[id];
        /* 4401: the session ended; 4403: this plant is no longer the user's (hmi.consumers).
           Asking again would only be refused again: the banner's next refresh (or the
           status bar's poll) takes the page to the login instead. */
        if (event.code === 4401 || event.code === 4403) {
          refresh();
          return;
        }
        setTimeout(() => connect([id]), 2000);
      };
    });
  }

  refresh();
  setInterval(tick, 1000);
  setInterval(() => { if (alerting.length && !silenced()) beep(); }, REPEAT_MS);
  setInterval(refresh, 30000); /* a safety net; pushes do the real work */
})();
