// Stacked bar charts in inline SVG, no library: one bar per minute, one
// colour per series, a legend with each series' total.
import { h, svg, num } from './dom.js';

export const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const W = 800;
const H = 220;
const PAD = { l: 40, r: 8, t: 10, b: 28 };

function hhmm(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/**
 * stacked draws counts per minute. start is the first minute (ms since
 * the epoch), n the number of minutes, series a Map from name to an array
 * of n counts, largest series first. id names the chart for tests.
 */
export function stacked(id, title, start, n, series) {
  const names = Array.from(series.keys());
  const totals = new Map(names.map((s) => [s, series.get(s).reduce((a, b) => a + b, 0)]));
  let max = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (const s of names) sum += series.get(s)[i];
    max = Math.max(max, sum);
  }
  const top = Math.max(1, niceCeil(max));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / n;
  const y = (v) => PAD.t + ih - (v / top) * ih;

  const bars = svg('g', { class: 'bars' });
  for (let i = 0; i < n; i++) {
    let acc = 0;
    names.forEach((s, k) => {
      const v = series.get(s)[i];
      if (!v) return;
      const y0 = y(acc);
      const y1 = y(acc + v);
      acc += v;
      bars.append(
        svg(
          'rect',
          { x: (PAD.l + i * bw + (bw > 3 ? 0.5 : 0)).toFixed(2), y: y1.toFixed(2), width: Math.max(0.5, bw - (bw > 3 ? 1 : 0)).toFixed(2), height: (y0 - y1).toFixed(2), fill: palette[k % palette.length], 'data-series': s },
          svg('title', {}, `${hhmm(start + i * 60000)} ${s}: ${v}`),
        ),
      );
    });
  }
  const axis = svg(
    'g',
    { class: 'axis' },
    svg('line', { x1: PAD.l, y1: PAD.t + ih, x2: W - PAD.r, y2: PAD.t + ih }),
    svg('line', { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: PAD.t + ih }),
    svg('text', { x: PAD.l - 4, y: PAD.t + 8, 'text-anchor': 'end' }, String(top)),
    svg('text', { x: PAD.l - 4, y: PAD.t + ih, 'text-anchor': 'end' }, '0'),
    svg('text', { x: PAD.l, y: H - 8, 'text-anchor': 'start' }, hhmm(start)),
    svg('text', { x: PAD.l + iw / 2, y: H - 8, 'text-anchor': 'middle' }, hhmm(start + Math.floor(n / 2) * 60000)),
    svg('text', { x: W - PAD.r, y: H - 8, 'text-anchor': 'end' }, hhmm(start + (n - 1) * 60000)),
  );
  const total = Array.from(totals.values()).reduce((a, b) => a + b, 0);
  return h(
    'figure.chart',
    { id, 'data-total': total },
    h('figcaption', title, h('span.muted', ` — ${num(total)} closes`)),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${total} closes`, preserveAspectRatio: 'none' }, axis, bars),
    h(
      'ul.legend',
      names.length ? names.map((s, k) => h('li', { 'data-series': s, 'data-total': totals.get(s) }, h(`span.swatch.c${k % palette.length}`), `${s} `, h('strong', num(totals.get(s))))) : h('li.muted', 'No closes in this window.'),
    ),
  );
}

function niceCeil(v) {
  if (v <= 5) return v;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
