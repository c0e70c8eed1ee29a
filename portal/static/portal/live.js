/* Live updates for the dashboard and session pages: a WebSocket, and polling of a JSON
   endpoint while the socket is down. No dependencies. */
(function () {
  "use strict";
  var root = document.querySelector("[data-live-ws]");
  if (!root) { return; }
  var wsPath = root.getAttribute("data-live-ws");
  var pollUrl = root.getAttribute("data-live-poll");
  var mode = document.getElementById("live-mode");
  var pollTimer = null;

  function setMode(text) { if (mode) { mode.textContent = text; } root.setAttribute("data-live-mode", text); }

  function kwh(wh) { return (wh / 1000).toFixed(2); }

  function setConnector(station, evse, connector, status, errorCode) {
    var key = station + "/" + evse + "/" + connector;
    var cell = document.querySelector('[data-connector="' + key + '"]');
    if (!cell) {
      if (evse === 0) { return; }  /* the station as a whole (1.6 connector 0) */
      var row = document.querySelector('[data-station="' + station + '"] .connectors');
      if (!row) { return; }
      cell = document.createElement("span");
      cell.setAttribute("data-connector", key);
      cell.appendChild(document.createTextNode(evse + "/" + connector + ": "));
      var text = document.createElement("span");
      text.className = "status-text";
      cell.appendChild(text);
      row.appendChild(cell);
    }
    cell.className = "connector status-" + status;
    cell.setAttribute("data-status", status);
    var label = cell.querySelector(".status-text");
    if (label) { label.textContent = status + (errorCode && errorCode !== "NoError" ? " (" + errorCode + ")" : ""); }
  }

  /* The dashboard's "Charging now" cell: each car's state of charge, energy in and out, mode. */
  function setCharging(station, cars) {
    var cell = document.querySelector('[data-station="' + station + '"] .charging');
    if (!cell || !cars) { return; }
    cell.textContent = "";
    if (!cars.length) { cell.textContent = "\u2014"; return; }
    cars.forEach(function (c) {
      var car = document.createElement("span");
      car.className = "car";
      car.setAttribute("data-session", c.session);
      var soc = document.createElement("span");
      soc.className = "soc";
      soc.textContent = c.soc_percent === null ? "SoC \u2014" : "SoC " + (Math.round(c.soc_percent * 10) / 10) + " %";
      car.appendChild(document.createTextNode("EVSE " + (c.evse === null ? "?" : c.evse) + ": "));
      car.appendChild(soc);
      car.appendChild(document.createTextNode(" \u00b7 " + c.energy_wh + " Wh in" +
        (c.energy_exported_wh ? " \u00b7 " + c.energy_exported_wh + " Wh out" : "") +
        (c.operation_mode ? " \u00b7 " + c.operation_mode : "")));
      cell.appendChild(car);
      cell.appendChild(document.createTextNode(" "));
    });
  }

  function setPresence(station, online) {
    var row = document.querySelector('[data-station="' + station + '"]');
    if (!row) { return; }
    row.setAttribute("data-online", online ? "true" : "false");
    var label = row.querySelector(".presence");
    if (label) { label.textContent = online ? "online" : "offline"; }
  }

  /* The curves are drawn on the server: fetch them again, at most every 5 s. */
  var curves = document.getElementById("session-curves");
  var curvesDue = null;
  function refreshCurves() {
    if (!curves || !curves.getAttribute("data-refresh") || curvesDue) { return; }
    curvesDue = window.setTimeout(function () {
      fetch(curves.getAttribute("data-refresh"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { curves.innerHTML = html; } curvesDue = null; })
        .catch(function () { curvesDue = null; });
    }, 5000);
  }

  /* Faulted stations first, then offline ones, then the rest, by id (as the server orders them). */
  function health(row) {
    if (row.querySelector('[data-status="Faulted"]')) { return 0; }
    return row.getAttribute("data-online") === "true" ? 2 : 1;
  }
  function resort() {
    var body = document.querySelector("#stations tbody");
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-station]"));
    rows.sort(function (a, b) {
      var d = health(a) - health(b);
      if (d !== 0) { return d; }
      return a.getAttribute("data-station") < b.getAttribute("data-station") ? -1 : 1;
    });
    rows.forEach(function (row) { row.setAttribute("data-health", health(row)); body.appendChild(row); });
  }

  /* Pushes are sent from background threads and may arrive out of order: an event about an
     older meter value than the one shown is ignored (ISO 8601 UTC strings sort by time). */
  var shownMeterAt = null;
  function setSession(event) {
    if (event.meter_last_at && shownMeterAt && event.meter_last_at < shownMeterAt) { return; }
    if (event.meter_last_at) { shownMeterAt = event.meter_last_at; }
    var energy = document.getElementById("energy-kwh");
    if (energy) { energy.textContent = kwh(event.energy_wh); energy.setAttribute("data-wh", event.energy_wh); }
    var exported = document.getElementById("exported-kwh");
    if (exported && event.energy_exported_wh !== undefined) { exported.textContent = kwh(event.energy_exported_wh); }
    var soc = document.getElementById("soc-percent");
    if (soc && event.soc_percent !== undefined) {
      soc.textContent = event.soc_percent === null ? "\u2014" : (Math.round(event.soc_percent * 10) / 10) + " %";
    }
    var mode = document.getElementById("operation-mode");
    if (mode && event.operation_mode) { mode.textContent = event.operation_mode; }
    var power = document.getElementById("power-kw");
    if (power) { power.textContent = event.power_w === null ? "-" : (event.power_w / 1000).toFixed(1); }
    var status = document.getElementById("session-status");
    if (status) { status.textContent = event.status; }
    var cost = document.getElementById("session-cost");
    if (cost && event.cost) {
      cost.textContent = event.cost.text;
      var label = document.getElementById("cost-label");
      if (label) { label.textContent = event.cost.final ? "Cost" : "Cost so far"; }
    }
    refreshCurves();
  }

  function apply(event) {
    if (event.kind === "connector") { setConnector(event.station, event.evse, event.connector, event.status, event.error_code); resort(); }
    else if (event.kind === "presence") { setPresence(event.station, event.online); resort(); }
    else if (event.kind === "session") { setSession(event); }
    else if (event.kind === "charging") { setCharging(event.station, event.charging); }
    else if (event.stations) {
      event.stations.forEach(function (s) {
        setPresence(s.station, s.online);
        setCharging(s.station, s.charging);
        s.connectors.forEach(function (c) { setConnector(s.station, c.evse, c.connector, c.status, c.error_code); });
      });
      resort();
    }
  }

  function poll() {
    return fetch(pollUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* try again at the next tick */ });
  }

  /* Once the socket is open, the page catches up with one poll. Pushes that arrive while
     that poll is on its way wait for it: applied before it, a push would be overwritten by
     the older state the poll may bring. */
  var held = null;
  function catchUp() {
    held = [];
    poll().then(function () {
      var events = held || [];
      held = null;
      events.forEach(apply);
    });
  }

  function startPolling() {
    if (pollTimer || !pollUrl) { return; }
    setMode("polling");
    poll();
    pollTimer = window.setInterval(poll, 5000);
  }

  function stopPolling() { if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; } }

  var retry = 1000;
  function connect() {
    if (!("WebSocket" in window)) { startPolling(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try { socket = new WebSocket(scheme + window.location.host + wsPath); } catch (e) { startPolling(); return; }
    socket.onopen = function () { retry = 1000; stopPolling(); setMode("live"); if (pollUrl) { catchUp(); } };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (held) { held.push(event); } else { apply(event); }
    };
    socket.onclose = function () {
      startPolling();
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
}());
