import { useEffect, useRef } from 'preact/hooks';

/**
 * Sites as dots on a canvas, placed by their coordinates (equirectangular, fitted to the sites;
 * no tile server: control rooms are offline). Green online, red offline. 2,000 dots draw in a
 * few milliseconds. Clicking a dot picks the site.
 */
export function SiteMap(p: { points: Array<[string, number, number, boolean]>; onPick?: (site: string) => void; label: string; height: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current!;
    const draw = () => {
      const dpr = devicePixelRatio || 1;
      const w = c.clientWidth; const h = p.height;
      c.width = w * dpr; c.height = h * dpr;
      const g = c.getContext('2d')!;
      g.scale(dpr, dpr);
      g.fillStyle = '#0d1117'; g.fillRect(0, 0, w, h);
      if (!p.points.length) return;
      let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
      for (const [, lat, lon] of p.points) { x0 = Math.min(x0, lon); x1 = Math.max(x1, lon); y0 = Math.min(y0, lat); y1 = Math.max(y1, lat); }
      const pad = 24;
      const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
      const sx = (w - 2 * pad) / Math.max(1e-6, (x1 - x0) * k); const sy = (h - 2 * pad) / Math.max(1e-6, y1 - y0);
      const s = Math.min(sx, sy);
      const ox = (w - (x1 - x0) * k * s) / 2; const oy = (h - (y1 - y0) * s) / 2;
      const pos = (lat: number, lon: number) => [ox + (lon - x0) * k * s, h - (oy + (lat - y0) * s)];
      // graticule every 0.1° (or 1° for a wide area)
      const step = x1 - x0 > 2 || y1 - y0 > 2 ? 1 : 0.1;
      g.strokeStyle = '#21262d'; g.lineWidth = 1;
      for (let lon = Math.ceil(x0 / step) * step; lon <= x1; lon += step) { const [x] = pos(y0, lon); g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke(); }
      for (let lat = Math.ceil(y0 / step) * step; lat <= y1; lat += step) { const [, y] = pos(lat, x0); g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke(); }
      const r = p.points.length > 500 ? 2.5 : 5;
      for (const online of [true, false]) {
        g.fillStyle = online ? '#3fb950' : '#f85149';
        g.beginPath();
        for (const [, lat, lon, on] of p.points) { if (on !== online) continue; const [x, y] = pos(lat, lon); g.moveTo(x + r, y); g.arc(x, y, r, 0, Math.PI * 2); }
        g.fill();
      }
      (c as any).__pos = pos;
    };
    draw();
    const ro = new ResizeObserver(draw);
    ro.observe(c);
    return () => ro.disconnect();
  }, [p.points, p.height]);
  const click = (e: MouseEvent) => {
    const c = ref.current!; const pos = (c as any).__pos as ((lat: number, lon: number) => number[]) | undefined;
    if (!pos || !p.onPick) return;
    const b = c.getBoundingClientRect(); const mx = e.clientX - b.left; const my = e.clientY - b.top;
    let best: string | undefined; let bd = 144;
    for (const [site, lat, lon] of p.points) { const [x, y] = pos(lat, lon); const d = (x - mx) ** 2 + (y - my) ** 2; if (d < bd) { bd = d; best = site; } }
    if (best) p.onPick(best);
  };
  return <canvas class="sitemap" ref={ref} role="img" aria-label={p.label} style={{ height: `${p.height}px` }} onClick={click} />;
}
