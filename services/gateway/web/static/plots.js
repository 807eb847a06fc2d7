// Draws every <figure class="plot"> with uPlot from its JSON data. The table beside the chart holds the
// exact figures; the chart parses them as numbers for drawing only. Progressive enhancement: with no
// JavaScript (or no uPlot) the table is the plot.
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];

  function draw(figure) {
    var holder = figure.querySelector(".plot-canvas");
    var data = JSON.parse(figure.querySelector(".plot-data").textContent);
    var columns = [data.x].concat(data.series.map(function (line) {
      return line.y.map(function (text) { return text === "" ? null : Number(text); });
    }));
    // Bars, one per bucket: a figure belongs to its whole bucket, not to an instant on a line.
    var bars = uPlot.paths.bars({size: [0.8, 24], align: 1});
    var series = [{}].concat(data.series.map(function (line, index) {
      var colour = COLOURS[index % COLOURS.length];
      return {label: line.label, stroke: colour, fill: colour + "99", width: 1, paths: bars, points: {show: false}};
    }));
    var x = {time: true};
    if (data.span) { x.range = function () { return data.span; }; }
    var width = Math.max(280, holder.clientWidth || 600);
    var options = {width: width, height: 220, series: series, scales: {x: x, y: {range: function (u, min, max) {
                     return [0, max > 0 ? max * 1.1 : 1]; }}},
                   axes: [{}, {label: figure.dataset.unit || ""}]};
    holder.textContent = "";
    figure.uplot = new uPlot(options, columns, holder);
    figure.classList.add("plot-drawn");
  }

  function drawAll() {
    if (typeof uPlot === "undefined") { return; }
    document.querySelectorAll("figure.plot").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
