// chart.js owns the Activity page's chart: refused connections per minute over the last hour, an SVG
// bar chart with a text summary (its description and caption) for people who do not see it.
import { h, fmtClock, zone } from './dom.js';

const W = 600, H = 150, LEFT = 34, BOTTOM = 20, TOP = 10;

// chart draws timeline (DescribeRefusedConnections' Timeline: Start, BucketSeconds, Counts).
export function chart(timeline) {
  const counts = timeline.Counts || [];
  const start = new Date(timeline.Start);
  const bucket = (timeline.BucketSeconds || 60) * 1000;
  const summary = summarise(counts, start, bucket);
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', preserveAspectRatio: 'none', id: 'refusal-chart' },
    h('svg:title', { id: 'chart-title' }, 'Refused connections per minute, last hour'),
    h('svg:desc', { id: 'chart-desc' }, summary));
  const max = Math.max(1, ...counts);
  const plotW = W - LEFT - 4, plotH = H - TOP - BOTTOM;
  const bw = plotW / Math.max(1, counts.length);
  counts.forEach((n, i) => {
    const bh = n === 0 ? 1 : Math.max(2, (n / max) * plotH);
    const t = new Date(start.getTime() + i * bucket);
    svg.append(h('svg:rect', { class: n === 0 ? 'bar zero' : 'bar', x: (LEFT + i * bw + 1).toFixed(1), y: (TOP + plotH - bh).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1) },
      h('svg:title', {}, `${fmtClock(t)} ${zone(t)}: ${n} refused`)));
  });
  svg.append(...axes(max, plotW, plotH));
  return h('figure', { class: 'chart' }, svg, h('figcaption', { class: 'summary', id: 'chart-summary' }, summary));
}

// summarise says the chart in words: the total and the busiest minute.
function summarise(counts, start, bucket) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 'No refused connection in the last hour.';
  let peakAt = 0;
  counts.forEach((n, i) => { if (n > counts[peakAt]) peakAt = i; });
  const peak = new Date(start.getTime() + peakAt * bucket);
  return `${total} refused connection${total === 1 ? '' : 's'} in the last hour; at most ${counts[peakAt]} in one minute (${fmtClock(peak)} ${zone(peak)}).`;
}

function axes(max, plotW, plotH) {
  return [
    h('svg:line', { class: 'axis', x1: LEFT, y1: TOP + plotH + 0.5, x2: W - 4, y2: TOP + plotH + 0.5 }),
    h('svg:line', { class: 'axis', x1: LEFT - 0.5, y1: TOP, x2: LEFT - 0.5, y2: TOP + plotH }),
    h('svg:text', { x: LEFT - 6, y: TOP + 9, 'text-anchor': 'end' }, String(max)),
    h('svg:text', { x: LEFT - 6, y: TOP + plotH, 'text-anchor': 'end' }, '0'),
    h('svg:text', { x: LEFT, y: H - 4 }, '60 min ago'),
    h('svg:text', { x: LEFT + plotW / 2, y: H - 4, 'text-anchor': 'middle' }, '30 min ago'),
    h('svg:text', { x: W - 4, y: H - 4, 'text-anchor': 'end' }, 'now'),
  ];
}
