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
    var series = [{}].concat(data.series.map(function (line, index) {
      return {label: line.label, stroke: COLOURS[index % COLOURS.length], width: 2,
              fill: COLOURS[index % COLOURS.length] + "22", points: {show: data.x.length <= 48}};
    }));
    var width = Math.max(280, holder.clientWidth || 600);
    var options = {width: width, height: 220, series: series, scales: {x: {time: true}},
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
