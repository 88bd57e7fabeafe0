// Insurance review pages: check an evidence file as soon as it is chosen (the server checks again,
// by content). Messages come from the page (data-too-big, data-wrong-type), already translated.
(function () {
  "use strict";
  var ALLOWED = /\.(pdf|jpe?g|png)$/i;

  function check(input) {
    var file = input.files && input.files[0];
    var message = "";
    if (file) {
      var limit = Number(input.getAttribute("data-max-mb") || "10") * 1024 * 1024;
      if (!ALLOWED.test(file.name)) {
        message = input.getAttribute("data-wrong-type") || "";
      } else if (file.size > limit) {
        message = input.getAttribute("data-too-big") || "";
      }
    }
    input.setCustomValidity(message);
    var note = input.parentNode.querySelector(".js-evidence-error");
    if (!note) {
      note = document.createElement("div");
      note.className = "field-error js-evidence-error";
      note.setAttribute("role", "alert");
      input.parentNode.appendChild(note);
    }
    note.textContent = message;
    note.hidden = !message;
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.matches && input.matches("input[type=file][data-max-mb]")) {
      check(input);
    }
  });
})();
