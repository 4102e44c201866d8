// The dashboard's chart: hosts by sync status as bars (uPlot, vendored from npm). The numbers
// are also in the table under it, for screen readers and without JavaScript.
(function () {
  var el = document.getElementById("status-chart");
  if (!el || !window.uPlot) return;
  var d = JSON.parse(el.dataset.chart);
  var css = getComputedStyle(document.documentElement);
  var fg = css.getPropertyValue("--fg").trim(), accent = css.getPropertyValue("--accent").trim();
  var xs = d.statuses.map(function (_, i) { return i; });
  new uPlot({
    width: Math.min(el.clientWidth || 480, 560), height: 220, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false, range: [-0.5, xs.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
    axes: [
      { stroke: fg, splits: function () { return xs; }, values: function () { return d.statuses; }, grid: { show: false } },
      { stroke: fg }
    ],
    series: [{}, { label: "hosts", fill: accent, stroke: accent, paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }]
  }, [xs, d.counts], el);
})();
