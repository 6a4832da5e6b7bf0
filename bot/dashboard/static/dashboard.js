// Draws each chart from the data table beside it (the table stays the source:
// screen readers and tests read it). "wide": first column the day, the others one
// series each (a "Total" column is left out). "long": day, series, value rows.
(function () {
  "use strict";
  var COLORS = ["#0b57d0", "#b3261e", "#146c2e", "#7d5260", "#8a5a00", "#006a6a", "#5c3ca8"];

  function cells(tr) {
    return Array.prototype.map.call(tr.children, function (c) { return c.textContent.trim(); });
  }

  function readTable(table) {
    var headers = cells(table.tHead.rows[0]);
    var rows = Array.prototype.map.call(table.tBodies[0].rows, cells)
      .filter(function (r) { return r.length === headers.length; });
    var days = [], series = {}, names = [];
    if (table.dataset.chart === "long") {
      rows.forEach(function (r) {
        if (days.indexOf(r[0]) < 0) days.push(r[0]);
        if (names.indexOf(r[1]) < 0) { names.push(r[1]); series[r[1]] = {}; }
        series[r[1]][r[0]] = Number(r[2]);
      });
    } else {
      names = headers.slice(1).filter(function (h) { return h !== "Total"; });
      names.forEach(function (n) { series[n] = {}; });
      rows.forEach(function (r) {
        days.push(r[0]);
        names.forEach(function (n) { series[n][r[0]] = Number(r[headers.indexOf(n)]); });
      });
    }
    days.sort();
    if (days.length === 1) {  // one point gives uPlot no range: show the day before too
      var before = new Date(Date.parse(days[0] + "T00:00:00Z") - 86400000);
      days.unshift(before.toISOString().slice(0, 10));
    }
    var xs = days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var data = [xs].concat(names.map(function (n) {
      return days.map(function (d) { return series[n][d] || 0; });
    }));
    return { names: names, data: data };
  }

  function draw(box) {
    var table = document.getElementById(box.dataset.for);
    if (!table || typeof uPlot === "undefined") return;
    var t = readTable(table);
    if (t.data[0].length === 0) { box.hidden = true; return; }
    var opts = {
      width: Math.max(280, box.clientWidth), height: 240,
      scales: { x: { time: true } },
      series: [{ label: "Day" }].concat(t.names.map(function (n, i) {
        return { label: n, stroke: COLORS[i % COLORS.length], width: 2,
                 points: { show: true, size: 6 } };
      })),
      axes: [{}, { label: "tokens", size: 70 }],
    };
    var plot = new uPlot(opts, t.data, box);
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 });
    });
  }

  document.querySelectorAll(".chart[data-for]").forEach(draw);
})();
