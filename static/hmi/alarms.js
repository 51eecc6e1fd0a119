/* The alarm banner of every page: fetched on load and whenever an alarm of a visible plant
 * changes (an alarm.changed push on the plant's socket), with an audible alert for new
 * critical and high alarms that the user can silence for a while. */
(function () {
  "use strict";
  const banner = document.getElementById("alarm-banner");
  if (!banner || !banner.dataset.src) return;
  const SILENCE_KEY = "scada.alarmSilencedUntil";
  const SILENCE_MINUTES = 5;
  const REPEAT_MS = 10000;
  const sockets = {};
  const heard = new Set();
  let alerting = [];
  let audio = null;
  let pending = null;

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
    /* A refresh is no activity of the user's: it must not keep an idle session alive. */
    const response = await fetch(`${banner.dataset.src}?next=${encodeURIComponent(here)}`, {
      credentials: "same-origin",
      headers: { "X-HMI-Background": "1" },
    });
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
    /* Someone is acknowledging: typing a comment, or pressing the button of a form whose
       comment has text (focus is on the button then). Swapping the banner now would submit
       a fresh, empty form instead; the next alarm change or page load refreshes it. Checked
       after the body has arrived, right before the swap: typing may start while it arrives. */
    const typed = [...banner.querySelectorAll("input[name=comment]")].some((input) => input.value);
    if (typed && banner.contains(document.activeElement)) return;
    banner.innerHTML = html;
    const bar = banner.querySelector(".alarm-bar");
    if (!bar) return;
    connect((bar.dataset.plants || "").split(" ").filter(Boolean));
    alert(bar);
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
  setInterval(() => { if (alerting.length && !silenced()) beep(); }, REPEAT_MS);
  setInterval(refresh, 30000); /* a safety net; pushes do the real work */
})();
