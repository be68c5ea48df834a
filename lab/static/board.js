// The board refreshes itself, except while the instructor has a group's console menu open.
(function () {
  var board = document.getElementById("board");
  var seconds = parseFloat(board.getAttribute("data-board-seconds") || "4");
  setInterval(function () {
    if (document.hidden || board.querySelector(".dropdown-menu.show")) return;
    fetch(board.getAttribute("data-board-src"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && !board.querySelector(".dropdown-menu.show")) board.innerHTML = html;
      });
  }, seconds * 1000);
})();
