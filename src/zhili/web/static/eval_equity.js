// The 4E equity page's Lorenz curve (洛伦兹曲线) with the line of equality, from the JSON the page carries in
// data-chart. The tables on the page hold the same figures.
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("eval-lorenz");
    if (!el || !window.echarts) { return; }
    var data;
    try { data = JSON.parse(el.getAttribute("data-chart") || "{}"); } catch (e) { data = {}; }
    var points = (data.lorenz || []).map(function (p) { return [Math.round(p[0] * 1000) / 10, Math.round(p[1] * 1000) / 10]; });
    var chart = window.echarts.init(el);
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 56, right: 24, top: 32, bottom: 48 },
      xAxis: { type: "value", min: 0, max: 100, name: el.getAttribute("data-l-x"), nameLocation: "middle", nameGap: 28, axisLabel: { formatter: "{value}%" } },
      yAxis: { type: "value", min: 0, max: 100, name: el.getAttribute("data-l-y"), axisLabel: { formatter: "{value}%" } },
      series: [
        { name: el.getAttribute("data-l-equal"), type: "line", data: [[0, 0], [100, 100]], symbol: "none", lineStyle: { type: "dashed" } },
        { name: el.getAttribute("data-l-curve"), type: "line", data: points, areaStyle: { opacity: 0.15 }, symbolSize: 4 }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
}());
