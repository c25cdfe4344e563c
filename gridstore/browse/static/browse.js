// gridstore browse: the few things a page does after loading. No library, no network but this server.
"use strict";

// The count of a filter runs on the server; poll it until it is done. A page that
// could not fill itself in time (a rare filter) reloads as the count goes on.
function pollCount() {
  const el = document.getElementById("count");
  if (!el || el.dataset.state === "done") return;
  const grid = document.getElementById("grid");
  let scanned = -1;
  const tick = () => {
    fetch(el.dataset.url, { headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((s) => {
        if (s.error) { el.textContent = "count failed: " + s.error; el.dataset.state = "error"; return; }
        if (s.done) {
          el.textContent = s.matches.toLocaleString("en-US");
          el.dataset.state = "done";
        } else {
          el.textContent = "counting: " + s.matches.toLocaleString("en-US") + " so far (" +
            s.chunks_scanned.toLocaleString("en-US") + " of " + s.chunks.toLocaleString("en-US") + " chunks)";
        }
        if (grid && grid.dataset.incomplete === "1" && scanned >= 0 && s.chunks_scanned > scanned) {
          window.location.reload();
          return;
        }
        scanned = s.chunks_scanned;
        if (!s.done) setTimeout(tick, 400);
      })
      .catch(() => setTimeout(tick, 1500));
  };
  tick();
}

// Overlays of the image page: each checkbox shows or hides one layer.
function toggles() {
  document.querySelectorAll("input[data-layer]").forEach((box) => {
    const layer = document.getElementById(box.dataset.layer);
    // toggleAttribute, not .hidden: an <svg> has no hidden property
    const show = () => layer.toggleAttribute("hidden", !box.checked);
    box.addEventListener("change", show);
    show();
  });
}

// "shuffle": a new random seed, then the form goes (the seed lands in the URL).
function shuffle() {
  const button = document.getElementById("shuffle");
  if (!button) return;
  button.addEventListener("click", () => {
    const form = button.form;
    form.elements.seed.value = String(Math.floor(Math.random() * 1e9));
    form.querySelectorAll("input[name=where]").forEach((i) => { if (!i.value.trim()) i.disabled = true; });
    form.submit();
  });
  // Empty where boxes and an empty seed stay out of the URL.
  button.form.addEventListener("submit", () => {
    button.form.querySelectorAll("input[name=where], input[name=seed]").forEach((i) => {
      if (!i.value.trim()) i.disabled = true;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => { pollCount(); toggles(); shuffle(); });
