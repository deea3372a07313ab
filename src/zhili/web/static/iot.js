/* 物联感知 device map: the jurisdiction's community outlines (the regions API) and one marker per placed device
   (the page's GeoJSON URL), coloured by status; the popup is built from text nodes (names are data, never HTML).
   The filter form re-draws the markers without reloading the page. Tiles only if the site configures a server. */
(function () {
  "use strict";
  var COLOURS = {active: "#1a7f37", offline: "#8c959f", alarm: "#cf222e", disabled: "#24292f"};
  var map = null, markers = null, outlines = false;

  function line(parent, label, value) {
    var row = document.createElement("div");
    if (label) {
      var b = document.createElement("span");
      b.className = "popup-label";
      b.textContent = label + "：";
      row.appendChild(b);
    }
    row.appendChild(document.createTextNode(value || "—"));
    parent.appendChild(row);
  }

  function popup(el, p) {
    var box = document.createElement("div");
    box.className = "device-popup";
    var title = document.createElement("strong");
    title.textContent = p.name;
    box.appendChild(title);
    line(box, el.dataset.lType, p.type);
    line(box, el.dataset.lUnit, p.unit);
    line(box, el.dataset.lStatus, p.status_name);
    line(box, el.dataset.lSeen, p.last_seen);
    if (p.url) {
      var a = document.createElement("a");
      a.href = p.url;
      a.textContent = el.dataset.lOpen;
      box.appendChild(a);
    }
    return box;
  }

  function drawOutlines(el) {
    if (outlines || !el.dataset.boundaries) return;
    outlines = true;
    fetch(el.dataset.boundaries, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (gj) {
        if (!gj || !gj.features || !gj.features.length) return;
        var layer = window.L.geoJSON(gj, {style: {color: "#1f6feb", weight: 1, fillOpacity: 0.03}, interactive: false});
        layer.addTo(map);
        layer.bringToBack();
        if (!markers || !markers.getLayers().length) map.fitBounds(layer.getBounds());
      }).catch(function () { /* the outlines are decoration: the markers stand on their own */ });
  }

  function draw(el) {
    if (!window.L) return;
    if (!map) {
      map = window.L.map(el, {attributionControl: false, preferCanvas: false});
      if (el.dataset.tileUrl) window.L.tileLayer(el.dataset.tileUrl, {maxZoom: 19}).addTo(map);
      map.setView([31.0, 119.9], 11);
    }
    var status = document.getElementById("device-map-status");
    fetch(el.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (data) {
      if (markers) map.removeLayer(markers);
      markers = window.L.geoJSON(data, {
        pointToLayer: function (f, latlng) {
          var c = COLOURS[f.properties.status] || COLOURS.offline;
          return window.L.circleMarker(latlng, {radius: f.properties.status === "alarm" ? 8 : 6, color: "#fff",
                                                weight: 1, fillColor: c, fillOpacity: 0.9,
                                                className: "device-marker status-" + f.properties.status});
        },
        onEachFeature: function (f, l) { l.bindPopup(popup(el, f.properties)); }
      }).addTo(map);
      var b = markers.getBounds();
      if (b.isValid()) map.fitBounds(b, {padding: [20, 20], maxZoom: 17});
      if (status) status.textContent = data.summary || "";
      drawOutlines(el);
    }).catch(function () { if (status) status.textContent = el.dataset.failed || ""; });
  }

  function init() {
    var el = document.getElementById("device-map");
    if (!el) return;
    draw(el);
    var form = document.getElementById("device-map-form");
    if (!form) return;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      el.dataset.url = el.dataset.base + "?" + new URLSearchParams(new FormData(form)).toString();
      draw(el);
    });
    form.addEventListener("change", function () { form.requestSubmit(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
