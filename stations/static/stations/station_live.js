// The station page's live state: polls (every 3 s) the station's state.json and updates the connection,
// the connectors' status and what is charging (energy, power), without a reload.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("live-state");
    if (!box) { return; }
    var url = box.getAttribute("data-poll");
    function text(node, value) { if (node && node.textContent !== value) { node.textContent = value; } }
    function apply(state) {
      text(document.getElementById("connection-state"), state.online ? "Online" : "Offline");
      state.connectors.forEach(function (c) {
        var row = box.querySelector('[data-connector="' + c.evse + "/" + c.connector + '"] td:nth-child(3)');
        text(row, c.status);
      });
      var list = document.getElementById("charging-now");
      list.innerHTML = "";
      if (!state.sessions.length) { list.appendChild(Object.assign(document.createElement("li"), {textContent: "Nothing."})); }
      state.sessions.forEach(function (s) {
        var power = s.power_w === null ? "" : " · " + (s.power_w / 1000).toFixed(1) + " kW";
        var fed = s.energy_exported_wh ? " in, " + (s.energy_exported_wh / 1000).toFixed(2) + " kWh fed back" : "";
        var soc = s.soc_percent === null || s.soc_percent === undefined ? "" : " · SoC " + s.soc_percent + " %";
        var mode = s.operation_mode ? " · " + s.operation_mode : "";
        list.appendChild(Object.assign(document.createElement("li"), {
          textContent: "EVSE " + (s.evse === null ? "?" : s.evse) + " · transaction " + s.transaction_id +
            " · token " + s.id_token + " · " + (s.energy_wh / 1000).toFixed(2) + " kWh" + fed + power + soc + mode}));
      });
      text(document.getElementById("live-mode"), "live");
    }
    function poll() {
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) { if (state) { apply(state); } })
        .catch(function () { text(document.getElementById("live-mode"), "updates paused"); })
        .finally(function () { setTimeout(poll, 3000); });
    }
    poll();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
