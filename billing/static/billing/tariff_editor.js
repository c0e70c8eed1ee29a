// The tariff's elements as a form (price components, restrictions) over the OCPI JSON in
// #id_elements, which stays what is saved and validated; a live preview prices a made-up
// session on the server with the same pricing as real sessions.
(function () {
  "use strict";
  var TYPES = ["ENERGY", "FLAT", "TIME", "PARKING_TIME"];
  var UNITS = {ENERGY: "per kWh", FLAT: "per session", TIME: "per hour charging", PARKING_TIME: "per hour parked"};
  var DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
  var NUMBERS = [["min_kwh", "from kWh"], ["max_kwh", "until kWh"], ["min_duration", "from s"],
                 ["max_duration", "until s"], ["min_power", "from kW"], ["max_power", "until kW"]];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function start() {
    var source = document.getElementById("id_elements");
    var root = document.getElementById("tariff-editor");
    if (!source || !root) { return; }
    var elements;
    try { elements = JSON.parse(source.value || "[]"); } catch (e) { root.textContent = "The JSON below does not parse; fix it there."; return; }
    if (!Array.isArray(elements)) { elements = []; }
    var jsonRow = source.closest(".form-row");
    if (jsonRow) {
      var details = el("details", {}, [el("summary", {text: "Elements as JSON (OCPI 2.2.1)"})]);
      jsonRow.parentNode.insertBefore(details, jsonRow);
      details.appendChild(jsonRow);
    }

    function save() { source.value = JSON.stringify(elements, null, 2); schedulePreview(); }

    function numberInput(value, onChange, attrs) {
      var input = el("input", Object.assign({type: "number", step: "any"}, attrs || {}));
      if (value !== undefined && value !== null) { input.value = value; }
      input.addEventListener("input", function () { onChange(input.value === "" ? undefined : Number(input.value)); });
      return input;
    }

    function render() {
      root.innerHTML = "";
      elements.forEach(function (element, index) {
        element.price_components = element.price_components || [];
        var fieldset = el("fieldset", {"class": "element", "data-element": String(index)},
                          [el("legend", {text: "Element " + (index + 1) + (index === 0 ? " (checked first)" : "")})]);
        var body = el("tbody");
        element.price_components.forEach(function (component, position) {
          var type = el("select", {"aria-label": "Component type"});
          TYPES.forEach(function (t) { type.appendChild(el("option", {value: t, text: t.replace("_", " ").toLowerCase()})); });
          type.value = component.type || "ENERGY";
          type.addEventListener("change", function () { component.type = type.value; unit.textContent = UNITS[type.value]; save(); });
          var unit = el("span", {text: UNITS[component.type || "ENERGY"]});
          var remove = el("button", {type: "button", text: "Remove"});
          remove.addEventListener("click", function () { element.price_components.splice(position, 1); save(); render(); });
          body.appendChild(el("tr", {}, [
            el("td", {}, [type]),
            el("td", {}, [numberInput(component.price, function (v) { component.price = v; save(); }, {"aria-label": "Price excl. VAT", min: "0"}), document.createTextNode(" "), unit]),
            el("td", {}, [numberInput(component.vat, function (v) { if (v === undefined) { delete component.vat; } else { component.vat = v; } save(); }, {"aria-label": "VAT percent", min: "0"})]),
            el("td", {}, [numberInput(component.step_size, function (v) { component.step_size = v || 1; save(); }, {"aria-label": "Step size", min: "1", step: "1"})]),
            el("td", {}, [remove])]));
        });
        fieldset.appendChild(el("table", {}, [el("thead", {}, [el("tr", {}, [
          el("th", {text: "Component"}), el("th", {text: "Price excl. VAT"}), el("th", {text: "VAT %"}),
          el("th", {text: "Step (Wh / s)"}), el("th")])]), body]));
        var addComponent = el("button", {type: "button", text: "Add a price"});
        addComponent.addEventListener("click", function () {
          element.price_components.push({type: "ENERGY", price: 0, vat: 19, step_size: 1}); save(); render();
        });
        fieldset.appendChild(addComponent);

        var r = element.restrictions || {};
        var restrictions = el("div", {"class": "restrictions"});
        function setR(key, value) {
          if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) { delete r[key]; } else { r[key] = value; }
          if (Object.keys(r).length) { element.restrictions = r; } else { delete element.restrictions; }
          save();
        }
        ["start_time", "end_time"].forEach(function (key) {
          var input = el("input", {type: "time"});
          input.value = r[key] || "";
          input.addEventListener("input", function () { setR(key, input.value); });
          restrictions.appendChild(el("label", {}, [document.createTextNode(key === "start_time" ? "from" : "until"), input]));
        });
        NUMBERS.forEach(function (pair) {
          restrictions.appendChild(el("label", {}, [document.createTextNode(pair[1]),
            numberInput(r[pair[0]], function (v) { setR(pair[0], v); }, {min: "0"})]));
        });
        var days = el("div", {"class": "restrictions"});
        DAYS.forEach(function (day) {
          var box = el("input", {type: "checkbox"});
          box.checked = (r.day_of_week || []).indexOf(day) >= 0;
          box.addEventListener("change", function () {
            var days = (r.day_of_week || []).filter(function (d) { return d !== day; });
            if (box.checked) { days.push(day); }
            setR("day_of_week", DAYS.filter(function (d) { return days.indexOf(d) >= 0; }));
          });
          days.appendChild(el("label", {}, [box, document.createTextNode(day.slice(0, 3).toLowerCase())]));
        });
        fieldset.appendChild(el("p", {text: "Applies when (empty: always):"}));
        fieldset.appendChild(restrictions);
        fieldset.appendChild(days);
        var removeElement = el("button", {type: "button", text: "Remove element"});
        removeElement.addEventListener("click", function () { elements.splice(index, 1); save(); render(); });
        fieldset.appendChild(removeElement);
        root.appendChild(fieldset);
      });
      var addElement = el("button", {type: "button", text: "Add an element"});
      addElement.addEventListener("click", function () {
        elements.push({price_components: [{type: "ENERGY", price: 0, vat: 19, step_size: 1}]}); save(); render();
      });
      root.appendChild(addElement);
    }

    var timer = null;
    var preview = document.getElementById("tariff-preview");
    preview.hidden = false;
    function schedulePreview() { clearTimeout(timer); timer = setTimeout(runPreview, 250); }
    function value(id) { return document.getElementById(id).value; }
    function runPreview() {
      var currency = (document.getElementById("id_currency") || {}).value || "EUR";
      var csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
      fetch(root.getAttribute("data-preview-url"), {
        method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, credentials: "same-origin",
        body: JSON.stringify({tariff: {currency: currency, elements: elements}, session: {
          start: value("preview-start"), time_zone: value("preview-zone"), energy_kwh: value("preview-kwh"),
          charging_minutes: value("preview-charging"), parking_minutes: value("preview-parking")}})
      }).then(function (r) { return r.json(); }).then(function (answer) {
        var error = document.getElementById("preview-error");
        var lines = document.querySelector("#preview-lines tbody");
        lines.innerHTML = "";
        if (answer.error) {
          error.style.display = ""; error.textContent = answer.error;
          document.getElementById("preview-total").textContent = "—";
          return;
        }
        error.style.display = "none";
        document.getElementById("preview-total").textContent = answer.total_incl_vat + " " + answer.currency + " incl. VAT";
        (answer.lines || []).forEach(function (line) {
          lines.appendChild(el("tr", {}, [
            el("td", {text: line.element_index === null ? "" : String(line.element_index + 1)}),
            el("td", {text: line.component}), el("td", {text: line.billed_volume}),
            el("td", {text: line.unit_price}), el("td", {text: line.vat_rate === null ? "none" : line.vat_rate}),
            el("td", {text: line.amount_incl_vat})]));
        });
      });
    }
    ["preview-start", "preview-zone", "preview-kwh", "preview-charging", "preview-parking", "id_currency"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input) { input.addEventListener("input", schedulePreview); }
    });
    render();
    runPreview();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
