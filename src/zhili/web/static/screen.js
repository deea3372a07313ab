/* 智理 command-centre screen: KPI cards, drill-down map (district → streets → communities → grids → open cases of
   one grid), trend, categories and ranking, refreshed every minute with fetch (no page reload, no inline script).
   The page scales with the window (screen.css: the root font size follows its width); the charts follow their
   cards' size and draw their text at the same scale. */
(function () {
  "use strict";

  var root = document.getElementById("screen");
  if (!root || !window.echarts) return;
  var L = root.dataset;
  var API = L.api, BOUNDARIES = L.boundaries;

  function initialStack() {
    var s = [];
    try { s = JSON.parse(L.stack || "[]"); } catch (e) { s = []; }
    return s.length ? s : [{id: L.rootId, name: L.rootName, level: L.rootLevel}];
  }
  // Chart text and margins are drawn for 1920 px (a 16 px root font) and scaled like the page's text.
  function pageScale() { return (parseFloat(getComputedStyle(document.documentElement).fontSize) || 16) / 16; }
  var state = {
    stack: initialStack(),
    metric: "density", by: "day", children: {}, geoCache: {}, scale: pageScale()
  };
  function px(n) { return Math.round(n * state.scale); }
  function fontPx(n) { return Math.max(12, px(n)); }  // chart text stays readable on a laptop
  function text(extra) {
    var t = {fontSize: fontPx(12)};
    Object.keys(extra || {}).forEach(function (k) { t[k] = extra[k]; });
    return t;
  }
  function tooltip(options) {
    options.textStyle = {fontSize: fontPx(14)};
    return options;
  }
  var charts = {
    map: echarts.init(document.getElementById("map"), "dark", {renderer: "canvas"}),
    trend: echarts.init(document.getElementById("trend"), "dark"),
    cats: echarts.init(document.getElementById("categories"), "dark")
  };
  var BG = "transparent";

  function current() { return state.stack[state.stack.length - 1]; }

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (r.status === 401) { window.location.href = "/login?msg=login_required&next=/screen"; throw new Error("401"); }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function q(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== undefined && params[k] !== null; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }

  function setText(id, text) { var el = document.getElementById(id); if (el) el.textContent = text; }

  // -- KPI cards --------------------------------------------------------------------------------------------
  function drawKpis(k) {
    setText("kpi-reported_today", String(k.reported_today));
    setText("kpi-open", String(k.open));
    setText("kpi-overdue_now", String(k.overdue_now));
    setText("kpi-on_time_rate", pct(k.on_time_rate));
    setText("kpi-satisfaction", k.satisfaction === null ? "—" : k.satisfaction.toFixed(2));
  }

  // -- breadcrumb -------------------------------------------------------------------------------------------
  function drawCrumbs() {
    var ol = document.getElementById("crumbs");
    ol.textContent = "";
    state.stack.forEach(function (u, i) {
      var li = document.createElement("li");
      if (i < state.stack.length - 1) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = u.name;
        b.addEventListener("click", function () { state.stack = state.stack.slice(0, i + 1); refresh(); });
        li.appendChild(b);
      } else {
        var s = document.createElement("span");
        s.textContent = u.name;
        s.setAttribute("aria-current", "page");
        li.appendChild(s);
      }
      ol.appendChild(li);
    });
  }

  // -- map --------------------------------------------------------------------------------------------------
  function boundaries(parentId) {
    if (state.geoCache[parentId]) return Promise.resolve(state.geoCache[parentId]);
    return getJSON(BOUNDARIES + "?" + q({parent_id: parentId})).then(function (gj) {
      state.geoCache[parentId] = gj;
      return gj;
    });
  }

  function drawRegions(unit, breakdown, geojson) {
    var mapName = "u-" + unit.id;
    echarts.registerMap(mapName, geojson);
    var metric = state.metric, byId = {}, max = 0;
    var data = breakdown.children.map(function (c) {
      byId[c.id] = c;
      var v = c[metric];
      if (v !== null && v > max) max = v;
      return {name: c.id, value: v === null ? 0 : v};
    });
    state.children = byId;
    charts.map.setOption({
      backgroundColor: BG,
      tooltip: tooltip({trigger: "item", formatter: function (p) {
        var c = byId[p.name];
        if (!c) return "";
        return c.name + "<br>" + L.lReported + "：" + c.reported + "　" + L.lClosed + "：" + c.closed +
          "<br>" + L.lDensity + "：" + (c.density === null ? "—" : c.density.toFixed(2)) +
          "<br>" + L.lOverdue + "：" + pct(c.overdue_rate);
      }}),
      visualMap: {min: 0, max: max || 1, calculable: true, precision: metric === "density" ? 2 : 3, left: px(10), bottom: px(10),
                  itemWidth: px(20), itemHeight: px(140), textStyle: text({color: "#dce8f7"}),
                  inRange: {color: metric === "density" ? ["#0e3a5f", "#2f89c5", "#7fd3ff"] : ["#1f4e3d", "#e0b341", "#ff5b4a"]}},
      geo: null,
      series: [{type: "map", map: mapName, nameProperty: "id", roam: false, data: data, selectedMode: false,
                label: {show: true, color: "#fff", fontSize: fontPx(14), formatter: function (p) { return byId[p.name] ? byId[p.name].name : ""; }},
                itemStyle: {borderColor: "#7fb7e6", borderWidth: 1, areaColor: "#0e2a47"},
                emphasis: {label: {color: "#fff"}, itemStyle: {areaColor: "#3fb6ff"}}}]
    }, true);
  }

  function drawGrid(unit, parentId, cases) {
    return boundaries(parentId).then(function (gj) {
      var own = {type: "FeatureCollection", features: gj.features.filter(function (f) { return f.properties.id === unit.id; })};
      var mapName = "g-" + unit.id;
      echarts.registerMap(mapName, own);
      state.children = {};
      charts.map.setOption({
        backgroundColor: BG,
        tooltip: tooltip({trigger: "item", formatter: function (p) { return p.data && p.data.number ? p.data.number + "<br>" + p.data.title : ""; }}),
        visualMap: null,
        geo: {map: mapName, nameProperty: "id", roam: true, label: {show: false},
              itemStyle: {areaColor: "#0e2a47", borderColor: "#7fb7e6"}, emphasis: {disabled: true}},
        series: [{type: "scatter", coordinateSystem: "geo", symbolSize: px(12),
                  data: cases.points.map(function (pt) {
                    return {value: [pt.lon, pt.lat], number: pt.number, title: pt.title, id: pt.id,
                            itemStyle: {color: pt.overdue ? "#ff5b4a" : "#44d19b"}};
                  })}]
      }, true);
    });
  }

  charts.map.on("click", function (p) {
    if (p.seriesType === "scatter" && p.data && p.data.id && L.caseUrl) {  // a case dot: open the case
      window.location.href = L.caseUrl + encodeURIComponent(p.data.id);
      return;
    }
    var child = state.children[p.name];
    if (child) {
      state.stack.push({id: child.id, name: child.name, level: child.level});
      refresh();
    }
  });

  // -- trend, categories, ranking ---------------------------------------------------------------------------
  function drawTrend(t) {
    charts.trend.setOption({
      backgroundColor: BG, tooltip: tooltip({trigger: "axis"}),
      legend: {data: [L.lReported, L.lClosed], top: 0, right: 0, itemWidth: px(25), itemHeight: px(14),
               textStyle: text({color: "#dce8f7"})},
      grid: {left: px(40), right: px(16), top: px(36), bottom: px(28)},
      xAxis: {type: "category", data: t.points.map(function (p) { return p.date.slice(5); }), axisLabel: text()},
      yAxis: {type: "value", minInterval: 1, axisLabel: text()},
      series: [{name: L.lReported, type: "line", smooth: true, data: t.points.map(function (p) { return p.reported; })},
               {name: L.lClosed, type: "line", smooth: true, data: t.points.map(function (p) { return p.closed; })}]
    }, true);
  }

  function drawCats(c) {
    var items = c.items.slice().reverse();
    charts.cats.setOption({
      backgroundColor: BG, tooltip: tooltip({trigger: "axis"}),
      grid: {left: px(120), right: px(24), top: px(8), bottom: px(24)},
      xAxis: {type: "value", minInterval: 1, axisLabel: text()},
      yAxis: {type: "category", data: items.map(function (i) { return i.name; }),
              axisLabel: text({width: px(110), overflow: "truncate"})},
      series: [{type: "bar", data: items.map(function (i) { return i.reported; }), itemStyle: {color: "#3fb6ff"}}]
    }, true);
  }

  function drawRanking(r) {
    var body = document.getElementById("ranking");
    body.textContent = "";
    r.items.slice(0, 15).forEach(function (it) {
      var tr = document.createElement("tr");
      [it.rank, it.name, it.reported, it.closed, pct(it.on_time_rate)].forEach(function (v, i) {
        var td = document.createElement("td");
        td.textContent = String(v);
        if (i === 4 && it.on_time_rate !== null && it.on_time_rate < 0.8) td.className = "low";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  // -- refresh ----------------------------------------------------------------------------------------------
  // 热点问题 of the unit on screen over the last 7 days (zhili.intel.hot_cases), for those who may read them
  function drawHot(unit) {
    var wrap = document.getElementById("hot-wrap"), list = document.getElementById("hot-issues");
    if (!wrap || !list) return null;
    var since = new Date(Date.now() - 7 * 86400000).toISOString();
    return getJSON(wrap.dataset.url + "?" + q({unit_id: unit.id, since: since, top: 5})).then(function (issues) {
      list.textContent = "";
      if (!issues.length) {
        var none = document.createElement("li");
        none.textContent = wrap.dataset.empty;
        list.appendChild(none);
      }
      issues.forEach(function (i) {
        var li = document.createElement("li"), place = document.createElement("span"), n = document.createElement("span");
        place.className = "hot-place";
        place.textContent = (i.places || []).slice(0, 2).join("、");
        n.className = "hot-n";
        n.textContent = "（" + i.size + wrap.dataset.unit + "）";
        li.appendChild(place);
        li.appendChild(document.createTextNode(" " + (i.terms || []).slice(0, 3).join(" ")));
        li.appendChild(n);
        list.appendChild(li);
      });
    }).catch(function () { wrap.hidden = true; });
  }

  // 物联感知: the unit's open device alerts by device type and its offline devices (zhili.iot), for its readers
  function drawIot(unit) {
    var wrap = document.getElementById("iot-wrap"), list = document.getElementById("iot-types");
    if (!wrap || !list) return null;
    return getJSON(wrap.dataset.url + "?" + q({unit_id: unit.id})).then(function (f) {
      setText("iot-open", String(f.open));
      setText("iot-offline", String(f.offline));
      setText("iot-devices", String(f.devices));
      list.textContent = "";
      if (!f.by_type.length) {
        var none = document.createElement("li");
        none.textContent = wrap.dataset.empty;
        list.appendChild(none);
      }
      f.by_type.slice(0, 6).forEach(function (t) {
        var li = document.createElement("li"), n = document.createElement("span");
        n.className = "hot-n";
        n.textContent = " " + t.count;
        li.appendChild(document.createTextNode(t.name));
        li.appendChild(n);
        list.appendChild(li);
      });
    }).catch(function () { wrap.hidden = true; });
  }

  function refresh() {
    var unit = current();
    state.scale = pageScale();
    drawCrumbs();
    var jobs = [
      getJSON(API + "/kpis?" + q({unit_id: unit.id})).then(drawKpis),
      getJSON(API + "/trend?" + q({unit_id: unit.id, by: state.by, days: state.by === "week" ? 84 : 30})).then(drawTrend),
      getJSON(API + "/categories?" + q({unit_id: unit.id})).then(drawCats),
      drawHot(unit),
      drawIot(unit)
    ];
    if (unit.level === "grid") {
      var parent = state.stack.length > 1 ? state.stack[state.stack.length - 2] : null;
      jobs.push(getJSON(API + "/grids/" + unit.id + "/cases").then(function (cases) {
        return parent ? drawGrid(unit, parent.id, cases) : null;
      }));
      jobs.push(getJSON(API + "/ranking?" + q({level: "grid"})).then(drawRanking));
    } else {
      jobs.push(Promise.all([getJSON(API + "/breakdown?" + q({unit_id: unit.id})), boundaries(unit.id)])
        .then(function (res) {
          drawRegions(unit, res[0], res[1]);
          var lvl = res[0].child_level;
          return lvl ? getJSON(API + "/ranking?" + q({level: lvl})).then(drawRanking) : null;
        }));
    }
    return Promise.all(jobs).then(function () {
      setText("updated", L.lUpdated + " " + new Date().toLocaleTimeString("zh-CN", {hour12: false}));
    }).catch(function () {
      setText("updated", L.lFailed);
    });
  }

  function toggle(attr, key) {
    document.querySelectorAll("button[data-" + attr + "]").forEach(function (b) {
      b.addEventListener("click", function () {
        state[key] = b.dataset[attr];
        document.querySelectorAll("button[data-" + attr + "]").forEach(function (o) {
          o.setAttribute("aria-pressed", String(o === b));
        });
        refresh();
      });
    });
  }
  toggle("metric", "metric");
  toggle("by", "by");

  // Each chart follows its card (the grid reflows with the window); when the page's text scale changes, the charts
  // are drawn again with text of the new size.
  function resizeAll() { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); }
  if (window.ResizeObserver) {
    var observer = new ResizeObserver(function (entries) {
      entries.forEach(function (e) {
        var chart = echarts.getInstanceByDom(e.target);
        // next frame: resizing inside the observer's callback would notify it again in the same frame
        if (chart) window.requestAnimationFrame(function () { chart.resize(); });
      });
    });
    Object.keys(charts).forEach(function (k) { observer.observe(charts[k].getDom()); });
  }
  var rescale = null;
  window.addEventListener("resize", function () {
    resizeAll();
    clearTimeout(rescale);
    rescale = setTimeout(function () { if (pageScale() !== state.scale) refresh(); }, 200);
  });
  refresh();
  setInterval(refresh, (parseInt(L.refresh, 10) || 60) * 1000);
})();
