/* 研判 page: the hotspot layer (Getis-Ord Gi*, FDR-controlled) on a Leaflet map, from the page's GeoJSON URL. */
(function () {
  "use strict";
  var COLOURS = {hot99: "#b3261e", hot95: "#e4572e", hot90: "#f29e4c", cold99: "#1d4e89", cold95: "#3f7cac",
                 cold90: "#8fb8de", ns: "#c8c8c8"};
  var map = null, layer = null;

  function draw(el) {
    if (!window.L) return;
    if (!map) {
      map = window.L.map(el, {attributionControl: false});
      if (el.dataset.tileUrl) window.L.tileLayer(el.dataset.tileUrl, {maxZoom: 19}).addTo(map);
    }
    var status = document.getElementById("hotspot-status");
    fetch(el.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      if (layer) map.removeLayer(layer);
      layer = window.L.geoJSON(data, {
        style: function (f) {
          var c = COLOURS[f.properties.cls] || COLOURS.ns;
          return {color: f.properties.emerging ? "#000" : c, weight: f.properties.emerging ? 2 : 1,
                  fillColor: c, fillOpacity: f.properties.cls === "ns" ? 0.08 : 0.55};
        },
        onEachFeature: function (f, l) { l.bindPopup(f.properties.popup); }
      }).addTo(map);
      var b = layer.getBounds();
      if (b.isValid()) map.fitBounds(b); else map.setView([31.0, 119.9], 11);
      if (status) status.textContent = data.summary || "";
    }).catch(function () { if (status) status.textContent = el.dataset.failed || ""; });
  }

  function init() {
    var el = document.getElementById("hotspot-map");
    if (!el) return;
    draw(el);
    var form = document.getElementById("hotspot-form");
    if (form) form.addEventListener("submit", function (e) { e.preventDefault(); });
    if (form) form.addEventListener("change", function () {
      var params = new URLSearchParams(new FormData(form));
      el.dataset.url = el.dataset.base + "?" + params.toString();
      draw(el);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
