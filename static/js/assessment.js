// Yearly assessment run: poll the run's progress while a worker has it; reload once it is finished.
// The phase texts come from the page (data-phase-*), already translated.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector("[data-progress-bar]");
  var text = box.querySelector("[data-progress-text]");

  function show(state) {
    if (state.finished) {
      if (bar) {
        bar.value = 100;
      }
      window.location.reload();
      return;
    }
    if (bar && state.percent !== null && state.percent !== undefined) {
      bar.value = state.percent;
    }
    var words = state.phase && box.getAttribute("data-phase-" + state.phase);
    if (text && words) {
      text.textContent = words + (state.total ? " " + state.done.toLocaleString() + " / " + state.total.toLocaleString() : "");
    }
    window.setTimeout(poll, 1000);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state) {
          show(state);
        } else {
          window.setTimeout(poll, 3000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }

  window.setTimeout(poll, 800);
})();
