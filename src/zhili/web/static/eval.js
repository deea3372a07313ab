// 4E 评估: the scorecard's radar of the four dimensions and its trend lines (ECharts, from the JSON the page carries
// in data-radar / data-trend), and the ranking page's map coloured by score (Leaflet, from the page's GeoJSON URL;
// each unit's colour comes with it, from the legend the page shows).
// The tables on the pages hold the same figures.
(function () {
  "use strict";
  function read(el, name) {
    try { return JSON.parse(el.getAttribute(name) || "null"); } catch (e) { return null; }
  }

  function radar() {
    var el = document.getElementById("eval-radar");
    if (!el) return;
    var dims = read(el, "data-radar") || [];
    if (!window.echarts || !dims.length) { el.textContent = el.getAttribute("data-failed") || ""; return; }
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: {},
      radar: { indicator: dims.map(function (d) { return { name: d.name, max: 100 }; }), radius: "65%" },
      series: [{ type: "radar", areaStyle: { opacity: 0.25 },
                 data: [{ value: dims.map(function (d) { return d.value === null ? 0 : Math.round(d.value * 10) / 10; }),
                          name: document.title.split(" · ")[0] }] }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function trend() {
    var el = document.getElementById("eval-trend");
    if (!el) return;
    var data = read(el, "data-trend");
    if (!window.echarts || !data || !data.labels.length) { el.textContent = el.getAttribute("data-failed") || ""; return; }
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 40, right: 16, top: 36, bottom: 28 },
      xAxis: { type: "category", data: data.labels },
      yAxis: { type: "value", min: 0, max: 100 },
      series: data.series.map(function (s, i) {
        return { name: s.name, type: "line", connectNulls: false, lineStyle: { width: i === 0 ? 3 : 1.5 },
                 data: s.data.map(function (v) { return v === null ? null : Math.round(v * 10) / 10; }) };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function map() {
    var el = document.getElementById("eval-map");
    if (!el || !window.L) return;
    var m = window.L.map(el, { attributionControl: false });
    if (el.dataset.tileUrl) window.L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(m);
    var status = document.getElementById("eval-map-status");
    fetch(el.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      var layer = window.L.geoJSON(data, {
        style: function (f) {
          return { color: "#555", weight: 1, fillColor: f.properties.colour || "#d0d0d0", fillOpacity: 0.7 };
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          var text = p.score === null || p.score === undefined ? (el.dataset.noData || "") : p.score.toFixed(1);
          l.bindTooltip(p.name + "：" + text + (p.rank ? "（第 " + p.rank + " 名）" : ""));
        }
      }).addTo(m);
      var b = layer.getBounds();
      if (b.isValid()) m.fitBounds(b); else m.setView([31.0, 119.9], 11);
    }).catch(function () { if (status) status.textContent = el.dataset.failed || ""; });
  }

  function init() { radar(); trend(); map(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
