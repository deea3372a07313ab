/* 智理 pages: small progressive enhancements (every form also works without JavaScript).
   No inline scripts anywhere: the Content-Security-Policy allows only scripts from this server. */
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }

  // Enter in a search box inside a bigger form searches (htmx) instead of submitting the form.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key === "Enter" && t && t.type === "search" && t.form && t.hasAttribute("hx-get")) {
      e.preventDefault();
    }
  });

  // The report and visit forms' checks, the category picker and the submission token: forms.js.

  // -- location: browser geolocation (WGS-84) or a point picked on the grid map ------------------------------
  function setPoint(form, lon, lat, source) {
    var lonInput = $("input[name=lon]", form), latInput = $("input[name=lat]", form), crs = $("input[name=crs]", form);
    lonInput.value = lon.toFixed(6);
    latInput.value = lat.toFixed(6);
    if (crs) crs.value = "wgs84"; // browsers and our boundaries are WGS-84
    lonInput.dispatchEvent(new Event("change", {bubbles: true})); // lets other scripts and htmx react to the point
    var picker = $("[data-map]", form);
    if (picker && picker._map) placeMarker(picker, lon, lat, source !== "map");
  }

  function placeMarker(picker, lon, lat, pan) {
    var map = picker._map;
    if (picker._marker) picker._marker.setLatLng([lat, lon]);
    else picker._marker = window.L.circleMarker([lat, lon], {radius: 9, color: "#b3261e", weight: 3, fillOpacity: 0.5}).addTo(map);
    if (pan) map.panTo([lat, lon]);
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-geolocate]");
    if (!btn) return;
    var form = btn.form || btn.closest("form");
    var status = $("#geo-status", form);
    function say(msg) { if (status) status.textContent = msg; }
    if (!navigator.geolocation) { say(btn.dataset.msgUnsupported); return; }
    say(btn.dataset.msgLocating);
    btn.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      btn.disabled = false;
      setPoint(form, pos.coords.longitude, pos.coords.latitude, "gps");
      say(btn.dataset.msgLocated + "（±" + Math.round(pos.coords.accuracy) + " m）");
    }, function () {
      btn.disabled = false;
      say(btn.dataset.msgFailed);
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  });

  function initMap(picker) {
    if (picker._map || !window.L) return;
    var L = window.L, form = picker.closest("form");
    var map = L.map($(".map", picker), {attributionControl: false, zoomSnap: 0.25});
    picker._map = map;
    map.setView([31.0, 119.9], 10);
    if (picker.dataset.tileUrl) L.tileLayer(picker.dataset.tileUrl, {maxZoom: 19}).addTo(map);
    fetch(picker.dataset.boundariesUrl, {credentials: "same-origin", headers: {"Accept": "application/geo+json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.features || !data.features.length) return;
        var layer = L.geoJSON(data, {
          style: {color: "#0a3378", weight: 1.5, fillColor: "#0b57d0", fillOpacity: 0.06},
          onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, {sticky: true}); }
        }).addTo(map);
        map.fitBounds(layer.getBounds(), {padding: [8, 8]});
      });
    map.on("click", function (e) {
      setPoint(form, e.latlng.lng, e.latlng.lat, "map");
      placeMarker(picker, e.latlng.lng, e.latlng.lat, false);
      var status = $("#geo-status", form);
      if (status) status.textContent = picker.dataset.msgPicked;
    });
    var lon = parseFloat($("input[name=lon]", form).value), lat = parseFloat($("input[name=lat]", form).value);
    if (isFinite(lon) && isFinite(lat)) placeMarker(picker, lon, lat, true);
    setTimeout(function () { map.invalidateSize(); }, 50);
  }

  document.addEventListener("toggle", function (e) {
    var picker = e.target;
    if (picker.matches && picker.matches("[data-map]") && picker.open) initMap(picker);
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var err = $("#form-error") || $("#action-error");
    if (err) err.focus();
  });
})();
