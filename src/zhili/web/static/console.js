/* 智理 staff console: the case location on a small Leaflet map (grid outline + point; tiles only if configured). */
(function () {
  "use strict";
  var el = document.getElementById("case-map");
  if (!el || !window.L) return;
  var point = JSON.parse(el.dataset.point || "null");
  var boundary = JSON.parse(el.dataset.boundary || "null");
  if (!point) return;
  var map = window.L.map(el, {attributionControl: false}).setView([point[1], point[0]], 15);
  if (el.dataset.tileUrl) window.L.tileLayer(el.dataset.tileUrl, {maxZoom: 19}).addTo(map);
  if (boundary) {
    var outline = window.L.geoJSON(boundary, {style: {color: "#1f6feb", weight: 2, fillOpacity: 0.05}}).addTo(map);
    map.fitBounds(outline.getBounds(), {padding: [10, 10]});
  }
  window.L.circleMarker([point[1], point[0]], {radius: 8, color: "#b3261e", weight: 3, fillOpacity: 0.6}).addTo(map);
})();
