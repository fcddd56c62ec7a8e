/* The Stats screen's three 14-day charts as inline SVG: no chart library (the page's weight budget
   is 150 KB). Colours come from the theme's CSS variables so light and dark both read. */
"use strict";

(function () {
  var NS = "http://www.w3.org/2000/svg";
  var W = 320, H = 150, LEFT = 30, RIGHT = 6, TOP = 8, BOTTOM = 20;
  var PALETTE = ["var(--accent)", "#f5a623", "#7ed321", "#bd10e0", "#50e3c2", "#e5484d", "#8b572a", "#4a90e2"];

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A chart frame: the axis, 3 grid labels from 0 to max, every other day labelled below.
  function frame(labels, max, title, format) {
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
    svg.appendChild(el("title", {}, title));
    for (var i = 0; i <= 2; i++) {
      var y = TOP + (H - TOP - BOTTOM) * (1 - i / 2);
      svg.appendChild(el("line", { class: "axis", x1: LEFT, x2: W - RIGHT, y1: y, y2: y }));
      svg.appendChild(el("text", { x: LEFT - 4, y: y + 3, "text-anchor": "end" }, format(max * i / 2)));
    }
    var step = (W - LEFT - RIGHT) / Math.max(1, labels.length);
    labels.forEach(function (label, index) {
      if (index % 2 === labels.length % 2) return;
      svg.appendChild(el("text", { x: LEFT + step * (index + 0.5), y: H - 6, "text-anchor": "middle" }, label));
    });
    return { svg: svg, step: step, scale: function (v) { return (H - TOP - BOTTOM) * (max ? v / max : 0); } };
  }

  function niceMax(values) {
    var max = Math.max.apply(null, [0].concat(values));
    if (max <= 2) return 2; // whole counts: the middle grid line stays a whole number
    var magnitude = Math.pow(10, Math.floor(Math.log10(max)));
    return Math.ceil(max / magnitude) * magnitude;
  }

  function whole(v) { return String(Math.round(v)); }

  function bars(labels, values, title) {
    var f = frame(labels, niceMax(values), title, whole);
    values.forEach(function (v, i) {
      if (!(v > 0)) return;
      var height = Math.max(f.scale(v), 1);
      var rect = el("rect", { x: LEFT + f.step * i + f.step * 0.15, y: H - BOTTOM - height, width: f.step * 0.7,
        height: height, rx: 2, fill: "var(--accent)" });
      rect.appendChild(el("title", {}, labels[i] + ": " + v));
      f.svg.appendChild(rect);
    });
    return f.svg;
  }

  // Generations per day, one colour per model, stacked; a legend names the models.
  function stacked(labels, perDay, title) {
    var models = [];
    perDay.forEach(function (day) { Object.keys(day).forEach(function (m) { if (models.indexOf(m) < 0) models.push(m); }); });
    models.sort();
    var totals = perDay.map(function (day) { return models.reduce(function (sum, m) { return sum + (day[m] || 0); }, 0); });
    var f = frame(labels, niceMax(totals), title, whole);
    perDay.forEach(function (day, i) {
      var base = H - BOTTOM;
      models.forEach(function (m, k) {
        var height = f.scale(day[m] || 0);
        if (!height) return;
        base -= height;
        var rect = el("rect", { x: LEFT + f.step * i + f.step * 0.15, y: base, width: f.step * 0.7, height: height,
          fill: PALETTE[k % PALETTE.length] });
        rect.appendChild(el("title", {}, labels[i] + " · " + m + ": " + day[m]));
        f.svg.appendChild(rect);
      });
    });
    var legend = document.createElement("div");
    legend.className = "legend";
    models.forEach(function (m, k) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = PALETTE[k % PALETTE.length];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(m));
      legend.appendChild(item);
    });
    return { svg: f.svg, legend: legend };
  }

  // The failure rate (0..1) as a line with dots, the axis in percent.
  function line(labels, rates, title) {
    var max = Math.min(1, Math.max(0.1, niceMax(rates.map(function (r) { return r * 100; })) / 100));
    var f = frame(labels, max, title, function (v) { return Math.round(v * 100) + "%"; });
    var points = rates.map(function (r, i) { return [LEFT + f.step * (i + 0.5), H - BOTTOM - f.scale(r)]; });
    if (points.length) {
      f.svg.appendChild(el("polyline", { points: points.map(function (p) { return p.join(","); }).join(" "), fill: "none",
        stroke: "var(--danger)", "stroke-width": 2, "stroke-linejoin": "round" }));
    }
    points.forEach(function (p, i) {
      var dot = el("circle", { cx: p[0], cy: p[1], r: 2.5, fill: "var(--danger)" });
      dot.appendChild(el("title", {}, labels[i] + ": " + Math.round(rates[i] * 1000) / 10 + "%"));
      f.svg.appendChild(dot);
    });
    return f.svg;
  }

  window.ReelsmithCharts = { bars: bars, stacked: stacked, line: line };
})();
