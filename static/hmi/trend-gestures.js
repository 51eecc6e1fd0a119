/*
 * Zoom and pan on the trend page's uPlot chart (trend.js), with the mouse and by touch:
 * the wheel zooms around the pointer, Shift+drag pans, one finger pans, two fingers pinch.
 * uPlot itself keeps plain drag-to-select for zooming in.
 *
 * trendGestures(u, {zoomAround, panBy}) starts listening and returns a function that stops.
 */
window.trendGestures = function (u, actions) {
  "use strict";

  const { zoomAround, panBy } = actions;
  const over = u.over;
  const stop = new AbortController();
  const signal = stop.signal;
  const secondsPerPixel = () => (u.scales.x.max - u.scales.x.min) / over.clientWidth;

  over.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAround(u.posToVal(event.offsetX, "x"), event.deltaY < 0 ? 0.8 : 1.25);
  }, { passive: false, signal });

  let dragFrom = null;
  // Captured on the parent, so a Shift+drag never starts uPlot's own selection.
  u.root.addEventListener("mousedown", (event) => {
    if (!event.shiftKey) return;
    event.stopPropagation();
    event.preventDefault();
    dragFrom = event.clientX;
  }, { capture: true, signal });
  window.addEventListener("mousemove", (event) => {
    if (dragFrom === null) return;
    panBy((dragFrom - event.clientX) * secondsPerPixel());
    dragFrom = event.clientX;
  }, { signal });
  window.addEventListener("mouseup", () => { dragFrom = null; }, { signal });

  let touches = null;
  const xs = (event) => [...event.touches].map((touch) => touch.clientX);
  over.addEventListener("touchstart", (event) => { touches = xs(event); }, { passive: true, signal });
  over.addEventListener("touchmove", (event) => {
    if (!touches) return;
    event.preventDefault();
    const now = xs(event);
    if (now.length === 1 && touches.length === 1) {
      panBy((touches[0] - now[0]) * secondsPerPixel());
    } else if (now.length === 2 && touches.length === 2) {
      const before = Math.abs(touches[1] - touches[0]) || 1;
      const after = Math.abs(now[1] - now[0]) || 1;
      const middle = (now[0] + now[1]) / 2 - over.getBoundingClientRect().left;
      zoomAround(u.posToVal(middle, "x"), before / after);
    }
    touches = now;
  }, { passive: false, signal });
  over.addEventListener("touchend", () => { touches = null; }, { signal });

  return () => stop.abort();
};
