import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { siteZone, t, time } from '../i18n.ts';

export interface ChartLine { label: string; values: Array<number | null>; color: string; width?: number }
export interface ChartProps {
  /** epoch ms */
  times: number[];
  lines: ChartLine[];
  /** Horizontal lines (limits), drawn dashed with their label. */
  limits?: Array<{ value: number; label: string; color: string }>;
  /** Points marked (instrument flags), by index into times, with a short label. */
  marks?: Array<{ i: number; label: string }>;
  /** Background bands (AQI categories). */
  bands?: Array<{ from: number; to: number; color: string }>;
  height?: number;
  site?: string;
  title: string;
}

/**
 * A uPlot time chart: nulls are drawn as gaps (spanGaps off), limits as dashed lines, flagged
 * points as rings with their flag letter, axes in the site's time zone.
 */
export function Chart(p: ChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current!;
    const tz = siteZone(p.site);
    const width = Math.max(280, el.clientWidth);
    const opts: uPlot.Options = {
      width, height: p.height ?? 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      // 24-hour times in the site's zone, as staff write them (uPlot's default is 12-hour)
      axes: [{ stroke: '#c9d1d9', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' }, values: (u: uPlot, splits: number[]) => {
        const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
        return splits.map((s, i) => { const v = time(s * 1000, p.site); return span > 86_400 * 1.5 ? (i === 0 || v.slice(11) === '00:00' ? v.slice(5, 10) : v.slice(11)) : v.slice(11); });
      } }, { stroke: '#c9d1d9', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' }, size: 56 }],
      series: [{ label: t('time.label'), value: (_u: uPlot, v: number | null) => (v === null ? '—' : time(v * 1000, p.site)) }, ...p.lines.map((l) => ({ label: l.label, stroke: l.color, width: l.width ?? 2, spanGaps: false, points: { show: false } }))],
      hooks: {
        drawClear: [(u: uPlot) => {
          const c = u.ctx;
          for (const b of p.bands ?? []) {
            const y1 = u.valToPos(b.to, 'y', true); const y0 = u.valToPos(b.from, 'y', true);
            c.fillStyle = b.color;
            c.fillRect(u.bbox.left, Math.max(u.bbox.top, y1), u.bbox.width, Math.min(u.bbox.top + u.bbox.height, y0) - Math.max(u.bbox.top, y1));
          }
        }],
        draw: [(u: uPlot) => {
          const c = u.ctx;
          c.save();
          for (const l of p.limits ?? []) {
            const y = u.valToPos(l.value, 'y', true);
            if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
            c.strokeStyle = l.color; c.setLineDash([8, 6]); c.lineWidth = 2 * devicePixelRatio;
            c.beginPath(); c.moveTo(u.bbox.left, y); c.lineTo(u.bbox.left + u.bbox.width, y); c.stroke();
            c.setLineDash([]); c.fillStyle = l.color; c.font = `${12 * devicePixelRatio}px sans-serif`; c.textAlign = 'right'; c.textBaseline = 'bottom';
            c.fillText(l.label, u.bbox.left + u.bbox.width - 6 * devicePixelRatio, y - 4 * devicePixelRatio);
          }
          const ys = u.data[1] as Array<number | null>;
          // a flagged point's label is written only where it does not run into the previous one
          // (neighbouring flagged hours: the ring marks each, the label the first of the run)
          let labelEnd = -Infinity;
          for (const m of p.marks ?? []) {
            const v = ys?.[m.i];
            if (v === null || v === undefined) continue;
            const x = u.valToPos(u.data[0][m.i], 'x', true); const y = u.valToPos(v, 'y', true);
            c.strokeStyle = '#f0883e'; c.lineWidth = 2 * devicePixelRatio;
            c.beginPath(); c.arc(x, y, 5 * devicePixelRatio, 0, Math.PI * 2); c.stroke();
            c.fillStyle = '#f0883e'; c.font = `bold ${11 * devicePixelRatio}px sans-serif`; c.textAlign = 'left'; c.textBaseline = 'bottom';
            const lx = x + 6 * devicePixelRatio;
            if (lx < labelEnd) continue;
            const w = c.measureText(m.label).width;
            const fx = Math.min(lx, u.bbox.left + u.bbox.width - w); // inside the plot on the right
            c.fillText(m.label, fx, y - 11 * devicePixelRatio);
            labelEnd = fx + w + 4 * devicePixelRatio;
          }
          c.restore();
        }],
      },
    };
    // the y range includes the limits, so a limit line is always in view
    const lim = (p.limits ?? []).map((l) => l.value);
    if (lim.length) opts.scales!.y = { range: (_u, lo, hi) => [Math.min(0, lo ?? 0), Math.max(hi ?? 0, ...lim) * 1.1] };
    const data = [p.times.map((t) => t / 1000), ...p.lines.map((l) => l.values)] as uPlot.AlignedData;
    const chart = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => chart.setSize({ width: Math.max(280, el.clientWidth), height: p.height ?? 260 }));
    ro.observe(el);
    return () => { ro.disconnect(); chart.destroy(); };
  }, [p.times, p.lines, p.limits, p.marks, p.bands, p.site]);
  return <figure class="chart" aria-label={p.title}><div ref={ref} /></figure>;
}
