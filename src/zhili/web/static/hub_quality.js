// The data-quality page's trend chart (数据质量趋势): completeness and validity per import (lines, %) and the
// quarantined rows (bars), from the JSON the page carries in data-trend. The table below it holds the same figures.
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("quality-trend");
    if (!el) { return; }
    var points;
    try { points = JSON.parse(el.getAttribute("data-trend") || "[]"); } catch (e) { points = []; }
    if (!window.echarts || !points.length) {
      el.textContent = el.getAttribute("data-l-failed") || "";
      return;
    }
    var pct = function (v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; };
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 48, top: 32, bottom: 32 },
      xAxis: { type: "category", data: points.map(function (p) { return p.at; }) },
      yAxis: [
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        { type: "value", minInterval: 1 }
      ],
      series: [
        { name: el.getAttribute("data-l-completeness"), type: "line", data: points.map(function (p) { return pct(p.completeness); }) },
        { name: el.getAttribute("data-l-validity"), type: "line", data: points.map(function (p) { return pct(p.validity); }) },
        { name: el.getAttribute("data-l-quarantined"), type: "bar", yAxisIndex: 1, data: points.map(function (p) { return p.quarantined; }) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
