import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export interface Column<T> {
  readonly id: string;
  readonly header: ComponentChildren;
  /** A CSS width (`8rem`); unset: the column shares what the others leave. */
  readonly width?: string;
  readonly cell: (row: T) => ComponentChildren;
  /** Where this column's sort stands, for aria-sort. */
  readonly sort?: "ascending" | "descending" | "none";
}

interface Props<T> {
  readonly label: string;
  readonly rows: readonly T[];
  readonly columns: readonly Column<T>[];
  readonly rowKey: (row: T) => string;
  /** Must match the CSS height of `.vtable tbody tr`. */
  readonly rowHeight?: number;
}

const OVERSCAN = 8;

/**
 * A real <table> that renders only the rows in view, between two spacer rows (every row has the same
 * height, so the window is two divisions): 1,000 VMs cost the DOM of about 40 rows, and a live update
 * re-renders those alone. aria-rowcount/aria-rowindex tell assistive technology the whole size.
 */
export function VirtualTable<T>({ label, rows, columns, rowKey, rowHeight = 34 }: Props<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const measure = () => setViewport(element.clientHeight || 600);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + viewport) / rowHeight) + OVERSCAN);
  return (
    <div
      class="vscroll"
      ref={scroller}
      onScroll={(event) => setScrollTop((event.currentTarget as HTMLDivElement).scrollTop)}
    >
      <table class="vtable" aria-label={label} aria-rowcount={rows.length + 1}>
        <colgroup>
          {columns.map((column) => (
            <col key={column.id} style={column.width ? { width: column.width } : {}} />
          ))}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map((column) => (
              <th key={column.id} scope="col" aria-sort={column.sort ?? "none"}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {first > 0 ? <Spacer height={first * rowHeight} /> : null}
          {rows.slice(first, last).map((row, offset) => (
            <tr key={rowKey(row)} aria-rowindex={first + offset + 2}>
              {columns.map((column) => (
                <td key={column.id}>{column.cell(row)}</td>
              ))}
            </tr>
          ))}
          {last < rows.length ? <Spacer height={(rows.length - last) * rowHeight} /> : null}
        </tbody>
      </table>
    </div>
  );
}

/** The height of the rows not rendered, above or below the window; hidden from assistive technology. */
function Spacer({ height }: { height: number }) {
  // biome-ignore lint/a11y/noAriaHiddenOnFocusable: an empty spacer row has nothing to focus
  return <tr aria-hidden="true" class="spacer" style={{ height: `${height}px` }} />;
}
