/* The start page: show the station's price as soon as the driver has typed its id. */
(function () {
  "use strict";
  var form = document.querySelector("[data-price-url]");
  if (!form) { return; }
  var station = form.querySelector("[name=station_id]");
  var evse = form.querySelector("[name=evse_id]");
  var out = document.getElementById("station-price");
  var timer = null;

  function show(data) {
    out.textContent = "";
    if (!data) { return; }
    if (data.error) { out.textContent = "No price known for this station."; return; }
    out.appendChild(document.createTextNode("Price at " + data.station + ": "));
    var strong = document.createElement("strong");
    strong.textContent = data.text;
    out.appendChild(strong);
  }

  function ask() {
    var id = station.value.trim();
    if (!id) { show(null); return; }
    var url = form.getAttribute("data-price-url") + "?station=" + encodeURIComponent(id);
    if (evse && evse.value.trim()) { url += "&evse=" + encodeURIComponent(evse.value.trim()); }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function () { show(null); });
  }

  function later() { window.clearTimeout(timer); timer = window.setTimeout(ask, 400); }
  station.addEventListener("input", later);
  if (evse) { evse.addEventListener("input", later); }
}());
