// The replay steps through a run's events (buttons, arrow keys, Home/End), dimming what comes
// after the current one; the Projector switch enlarges the table.
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll(".replay-row"));
  var pos = document.getElementById("replay-pos"), at = rows.length - 1;
  function show() {
    rows.forEach(function (r, i) { r.style.opacity = i <= at ? 1 : 0.15; r.classList.toggle("table-primary", i === at); });
    if (rows[at]) rows[at].scrollIntoView({block: "nearest"});
    pos.textContent = (at + 1) + " / " + rows.length;
  }
  document.getElementById("replay-prev").onclick = function () { at = Math.max(0, at - 1); show(); };
  document.getElementById("replay-next").onclick = function () { at = Math.min(rows.length - 1, at + 1); show(); };
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT") return;
    if (e.key === "ArrowLeft") document.getElementById("replay-prev").click();
    if (e.key === "ArrowRight" || e.key === " ") { e.preventDefault(); document.getElementById("replay-next").click(); }
    if (e.key === "Home") { at = 0; show(); }
    if (e.key === "End") { at = rows.length - 1; show(); }
  });
  document.getElementById("replay-big").onchange = function () { document.getElementById("replay").classList.toggle("projector", this.checked); };
  if (rows.length) { at = 0; show(); }
})();
