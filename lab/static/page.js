// Behaviour every page may use, declared in the markup with data-* attributes (the Content
// Security Policy runs no inline script or onclick= handler):
//   <button data-print>                 prints the page
//   <select data-autosubmit>            sends its form when a choice is made
//   <form data-confirm="Question?">     asks before sending (Cancel sends nothing)
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-print]");
    if (button) { event.preventDefault(); window.print(); }
  });
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.value && select.form) {
      if (select.form.requestSubmit) select.form.requestSubmit(); else select.form.submit();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
