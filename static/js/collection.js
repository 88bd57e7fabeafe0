// Collective payments: the ticked persons' count and total follow the ticks, so the clerk can
// compare them with the cash counted before recording.
(function () {
  "use strict";
  var form = document.querySelector("[data-collective]");
  if (!form) {
    return;
  }
  var boxes = form.querySelectorAll("input[name=due_item]");
  var all = form.querySelector("[data-check-all]");
  function yuan(fen) {
    return (fen / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function update() {
    var count = 0;
    var fen = 0;
    boxes.forEach(function (box) {
      if (box.checked) {
        count += 1;
        fen += parseInt(box.getAttribute("data-fen"), 10);
      }
    });
    form.querySelector("[data-ticked-count]").textContent = String(count);
    form.querySelector("[data-ticked-total]").textContent = yuan(fen);
  }
  form.addEventListener("change", function (event) {
    if (event.target === all) {
      boxes.forEach(function (box) {
        box.checked = all.checked;
      });
    }
    update();
  });
  update();
})();
