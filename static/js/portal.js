// Small behaviours shared by every page. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  // Forms that ask for confirmation carry data-confirm="question".
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // Buttons that print the page (receipts, ledgers) carry data-print.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      window.print();
    }
  });
})();
