// Live figures for the sharing platform monitor: polls the JSON endpoint named by
// #sharing-monitor[data-url] and rewrites the cells marked data-field. No inline script (CSP).
(function () {
  "use strict";
  var root = document.getElementById("sharing-monitor");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-url");
  var interval = parseInt(root.getAttribute("data-interval"), 10) || 5000;
  var stamp = document.querySelector("[data-monitor-updated]");

  function show(value) { return value === null || value === undefined ? "\u2014" : String(value); }

  function fill(table, rows, key) {
    var body = root.querySelector('[data-monitor-table="' + table + '"] tbody');
    if (!body) { return; }
    rows.forEach(function (row) {
      var line = body.querySelector('tr[data-key="' + row[key] + '"]');
      if (!line) { return; }
      line.querySelectorAll("[data-field]").forEach(function (cell) {
        var field = cell.getAttribute("data-field");
        var link = cell.querySelector("a");
        (link || cell).textContent = show(row[field]);
      });
    });
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        fill("bureaus", data.bureaus, "bureau");
        fill("topics", data.topics, "topic");
        if (stamp) { stamp.textContent = stamp.textContent.replace(/\d\d:\d\d:\d\d.*$/, data.at.slice(11, 19)); }
        root.setAttribute("data-refreshed", data.at);
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(refresh, interval); });
  }
  window.setTimeout(refresh, interval);
})();
