// Import progress: poll the job's progress while a worker has it; reload once it is finished.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector("[data-progress-bar]");
  var text = box.querySelector("[data-progress-text]");
  var template = (text && text.getAttribute("data-progress-template")) || "__N__";

  function show(state) {
    if (state.finished) {
      window.location.reload();
      return;
    }
    if (bar && state.percent !== null && state.percent !== undefined) {
      bar.value = state.percent;
    }
    if (text && state.done) {
      // What the worker is doing now (reading, checking against the registry, importing…), the
      // count as the server writes it (600,006), so the text does not change form on the first poll.
      var phased = state.phase && text.getAttribute("data-progress-template-" + state.phase);
      var count = state.done_text || String(state.done).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
      text.textContent = (phased || template).replace("__N__", count);
    }
    window.setTimeout(poll, 2000);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state) {
          show(state);
        } else {
          window.setTimeout(poll, 5000);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1500);
})();
