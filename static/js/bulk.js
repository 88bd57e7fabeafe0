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
      text.textContent = template.replace("__N__", state.done.toLocaleString());
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
