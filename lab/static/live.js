// Live without sockets: poll /live/<run>?since=N; when something happened, reload the parts of
// the page marked data-live-src (a fragment URL) or the whole page with data-live-reload.
(function () {
  var root = document.querySelector("[data-live-run]");
  if (!root) return;
  var run = root.getAttribute("data-live-run");
  var last = parseInt(root.getAttribute("data-live-last") || "0", 10);
  var seconds = parseFloat(root.getAttribute("data-live-seconds") || "2");
  var busy = false;
  var bundle = root.getAttribute("data-live-bundle");
  function refresh() {
    if (bundle) {  // a console: all its parts in one answer
      fetch(bundle, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (parts) {
          if (!parts) return;
          Object.keys(parts).forEach(function (name) {
            var el = document.querySelector('[data-live-part="' + name + '"]');
            if (el) el.innerHTML = parts[name];
          });
          document.dispatchEvent(new CustomEvent("live:changed", {detail: {last: last}}));
        });
      return;
    }
    var parts = document.querySelectorAll("[data-live-src]");
    if (!parts.length) { window.location.reload(); return; }
    parts.forEach(function (el) {
      fetch(el.getAttribute("data-live-src"), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) el.innerHTML = html; });
    });
    document.dispatchEvent(new CustomEvent("live:changed", {detail: {last: last}}));
  }
  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch("/live/" + run + "?since=" + last, {credentials: "same-origin",
                                             headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.last !== last) { last = data.last; refresh(); }
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }
  setInterval(poll, seconds * 1000);
})();

// A form marked data-once cannot be sent twice by a double click (the server also performs
// each action once: this only spares the second request).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
});

// Countdowns to runs' time limits.
document.querySelectorAll("[data-countdown]").forEach(function (el) {
  var left = parseInt(el.getAttribute("data-countdown"), 10);
  var out = el.querySelector(".countdown-value");
  setInterval(function () {
    left = Math.max(0, left - 1);
    out.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) el.classList.replace("bg-info", "bg-danger");
  }, 1000);
});

// Pages that watch several runs (the instructor's board) refresh a fragment on a timer.
(function () {
  document.querySelectorAll("[data-refresh-src]").forEach(function (el) {
    var seconds = parseFloat(el.getAttribute("data-refresh-seconds") || "4");
    setInterval(function () {
      if (document.hidden) return;
      fetch(el.getAttribute("data-refresh-src"), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) el.innerHTML = html; });
    }, seconds * 1000);
  });
})();
