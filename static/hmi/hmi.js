/*
 * SCADA-lite HMI: the little the server cannot do.
 *
 * 1. htmx swaps 422 responses, so a form that fails validation is re-rendered in place with
 *    status 422 (htmx 2 ignores 4xx responses by default).
 * 2. A value that stops arriving turns stale even without a push: every value element carries
 *    data-stale-at, and once that time passes it is marked as the server would mark it.
 */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true },
      ];
    }
    markStale();
    window.setInterval(markStale, 1000);
  });

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
})();
