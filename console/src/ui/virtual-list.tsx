import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A list that renders only the rows in view (plus a few), so 10,000 alerts or 2,000 sites stay
 * smooth: fixed row height, one spacer as tall as all rows. `onNearEnd` asks for the next page.
 */
export function VirtualList<T>(p: { items: T[]; rowHeight: number; height: string; render: (item: T, i: number) => ComponentChildren; onNearEnd?: () => void; label: string; total?: number; header?: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [view, setView] = useState(600);
  useEffect(() => {
    const el = ref.current!;
    const ro = new ResizeObserver(() => setView(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const count = p.total ?? p.items.length;
  const first = Math.max(0, Math.floor(top / p.rowHeight) - 5);
  const last = Math.min(p.items.length, Math.ceil((top + view) / p.rowHeight) + 5);
  useEffect(() => {
    if (p.onNearEnd && last >= p.items.length - 20 && p.items.length < count) p.onNearEnd();
  }, [last, p.items.length, count]);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(<div class="vrow" role="row" aria-rowindex={i + 1} style={{ top: `${i * p.rowHeight}px`, height: `${p.rowHeight}px` }} key={i}>{p.render(p.items[i], i)}</div>);
  }
  return (
    <div class="vlist" role="grid" aria-label={p.label} aria-rowcount={count} ref={ref} style={{ height: p.height }} onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}>
      {p.header}
      <div class="vspacer" style={{ height: `${p.items.length * p.rowHeight}px` }}>{rows}</div>
    </div>
  );
}
