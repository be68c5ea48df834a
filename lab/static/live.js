// Countdowns to runs' time limits: each [data-countdown] ticks once a second unless it carries
// data-countdown-stopped (a run that is not running). The console's live poll stops and
// restarts them (window.labCountdowns.set) from the server's value.
window.labCountdowns = (function () {
  var clocks = [];
  function show(clock) {
    var left = clock.left;
    clock.out.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) clock.el.classList.replace("bg-info", "bg-danger");
  }
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    clocks.push({el: el, out: el.querySelector(".countdown-value"),
                 left: parseInt(el.getAttribute("data-countdown"), 10) || 0,
                 running: !el.hasAttribute("data-countdown-stopped")});
  });
  setInterval(function () {
    clocks.forEach(function (clock) {
      if (!clock.running || !clock.out) return;
      clock.left = Math.max(0, clock.left - 1);
      show(clock);
    });
  }, 1000);
  return {
    // Set the clock inside `el` (or every clock) to `left` seconds (null: keep) and run/stop it.
    set: function (el, left, running) {
      clocks.forEach(function (clock) {
        if (el && clock.el !== el) return;
        if (typeof left === "number" && (!running || !clock.running ||
                                          Math.abs(clock.left - left) >= 2)) {
          clock.left = left;
          if (clock.out) show(clock);
        }
        clock.running = running;
        clock.el.toggleAttribute("data-countdown-stopped", !running);
      });
    }
  };
})();

// Live without sockets: poll /live/<run>?since=N; when something happened, reload the parts of
// the page marked data-live-src (a fragment URL) or the whole page with data-live-reload.
// The poll also carries the run's status: while it is not "running" a console shows its banner,
// its buttons are disabled (one <fieldset disabled>) and its countdown stands still.
(function () {
  var root = document.querySelector("[data-live-run]");
  if (!root) return;
  var run = root.getAttribute("data-live-run");
  var last = parseInt(root.getAttribute("data-live-last") || "0", 10);
  var status = root.getAttribute("data-live-status") || "running";
  var seconds = parseFloat(root.getAttribute("data-live-seconds") || "2");
  var busy = false;
  var bundle = root.getAttribute("data-live-bundle");
  function applyStatus(next, left) {
    var running = next === "running";
    var banner = document.getElementById("run-banner");
    if (banner) {
      banner.hidden = running;
      if (!running) {
        var text = banner.getAttribute("data-message-" + next) ||
                   banner.getAttribute("data-message-finished") || "";
        banner.querySelector(".run-banner-text").textContent = text;
        banner.setAttribute("data-status", next);  // lab.css shows the matching icon
      }
    }
    var badge = document.getElementById("run-status");
    if (badge) {
      badge.hidden = running;
      if (!running) badge.textContent = badge.getAttribute("data-label-" + next) || next;
    }
    var actions = document.getElementById("console-actions");
    if (actions) actions.disabled = !running;
    var clock = document.getElementById("console-countdown");
    if (clock && window.labCountdowns) window.labCountdowns.set(clock, left, running);
    if (next !== status) {
      status = next;
      document.dispatchEvent(new CustomEvent("live:status", {detail: {status: status}}));
    }
  }
  function refresh() {
    if (bundle) {  // a console: all its parts in one answer
      fetch(bundle, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          if (!answer) return;
          var parts = answer.parts;
          // The parts show the run as of answer.last (one state: roles/common.py steady()).
          if (answer.last > last) last = answer.last;
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
        if (!data) return;
        if (data.status) applyStatus(data.status, data.left);
        if (data.last !== last) { last = data.last; refresh(); }
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }
  setInterval(poll, seconds * 1000);
})();

// A form the server refused (roles/common.py refused()) comes back as a flashed #action-error
// naming the form (its URL and hidden fields) and the field: mark that field, put the message
// beside it and bring it into view. Without JavaScript the message at the top says it all.
(function () {
  var alert = document.getElementById("action-error");
  if (!alert) return;
  var path = alert.getAttribute("data-error-path");
  if (!path) return;
  var want = {doc: alert.getAttribute("data-error-doc"), sku: alert.getAttribute("data-error-sku"),
              op: alert.getAttribute("data-error-op")};
  var form = Array.prototype.find.call(document.querySelectorAll("form"), function (f) {
    if (f.getAttribute("action") !== path) return false;
    return Object.keys(want).every(function (name) {
      if (!want[name]) return true;
      var input = f.querySelector('input[type=hidden][name="' + name + '"]');
      return input && input.value === want[name];
    });
  });
  if (!form) return;
  var name = alert.getAttribute("data-error-field");
  var field = name ? form.querySelector('[name="' + name + '"]:not([type=hidden])') : null;
  var note = document.createElement("div");
  note.className = "invalid-feedback d-block form-error";
  note.id = "action-error-note";
  note.textContent = alert.textContent.trim();
  if (field) {
    field.classList.add("is-invalid");
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", note.id);
    var host = field.closest(".col-12, [class*='col-sm-']");
    if (host && form.contains(host)) host.appendChild(note);
    else form.insertAdjacentElement("afterend", note);
    field.scrollIntoView({block: "center"});
    field.focus({preventScroll: true});
  } else {
    form.classList.add("form-failed");
    form.appendChild(note);
    form.scrollIntoView({block: "center"});
  }
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
