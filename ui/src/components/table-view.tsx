// Tables logged with rn.Table: pick a key and step, then sort by any column and filter rows; image cells are thumbnails.
import { useMemo, useState } from "preact/hooks";
import { getJson, qs, useResource } from "../api.ts";
import { fmtNum } from "../format.ts";
import { t } from "../i18n/i18n.ts";
import type { TableCell, TableDataResponse, TableItem } from "../../../src/wire/media.ts";
import { Empty, ErrorState, Loading, useDebounced, useInterval } from "./common.tsx";

const PAGE = 100;

/** Sort order of cells: numbers and bools by value, text by locale, empty last. */
export function compareCells(a: TableCell, b: TableCell): number {
  const rank = (v: TableCell) => (v === null ? 3 : typeof v === "number" || typeof v === "boolean" ? 0 : typeof v === "string" ? 1 : 2);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return Number(a) - Number(b);
  if (ra === 1) return (a as string).localeCompare(b as string);
  if (ra === 2) return ((a as { path: string }).path ?? "").localeCompare((b as { path: string }).path ?? "");
  return 0;
}

/** The text a filter matches against. */
export function cellText(v: TableCell): string {
  if (v === null) return "";
  if (typeof v === "object") return v.caption ?? v.path;
  return String(v);
}

function Cell(props: { v: TableCell }) {
  const v = props.v;
  if (v === null) return <span class="muted">–</span>;
  if (typeof v === "object") {
    return v.url ? (
      <a href={v.url} target="_blank" rel="noopener">
        <img class="table-thumb" src={v.url} alt={v.caption ?? v.path} loading="lazy" style={{ maxWidth: "64px", maxHeight: "64px" }} />
      </a>
    ) : (
      <span class="muted">{v.path}</span>
    );
  }
  if (typeof v === "boolean") return <span class="mono">{String(v)}</span>;
  // numbers shortened as everywhere else (5 significant digits), the exact value on hover
  return typeof v === "number" ? <span class="mono" title={String(v)}>{fmtNum(v)}</span> : <span>{v}</span>;
}

function TableData(props: { runId: string; item: TableItem }) {
  const enc = encodeURIComponent(props.runId);
  const data = useResource(`table:${props.runId}:${props.item.path}`, (signal) => getJson<TableDataResponse>(`/api/runs/${enc}/tables/data${qs({ path: props.item.path })}`, signal));
  const [sort, setSort] = useState<{ col: number; desc: boolean } | null>(null);
  const [filterRaw, setFilter] = useState("");
  const filter = useDebounced(filterRaw, 150).trim().toLowerCase();
  const [page, setPage] = useState(0);
  const rows = useMemo(() => {
    if (!data.data) return [];
    let r = data.data.rows;
    if (filter) r = r.filter((row) => row.some((c) => cellText(c).toLowerCase().includes(filter)));
    if (sort) {
      const { col, desc } = sort;
      r = r.map((row, i) => [row, i] as const).sort((a, b) => (desc ? -1 : 1) * compareCells(a[0][col], b[0][col]) || a[1] - b[1]).map((x) => x[0]);
    }
    return r;
  }, [data.data, filter, sort]);
  if (data.error && !data.data) return <ErrorState error={data.error} onRetry={data.reload} />;
  if (!data.data) return <Loading />;
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const p = Math.min(page, pages - 1);
  return (
    <div class="table-view" data-testid="table-view">
      <div class="toolbar">
        <input class="input" type="search" placeholder={t("table.filter")} aria-label={t("table.filter")} value={filterRaw} onInput={(e) => (setFilter((e.target as HTMLInputElement).value), setPage(0))} />
        <span class="muted" data-testid="table-count">
          {rows.length} / {data.data.rows.length} {t("table.rows")}
        </span>
        {pages > 1 ? (
          <span class="toolbar">
            <button class="btn btn-small" disabled={p === 0} onClick={() => setPage(p - 1)}>‹</button>
            <span class="muted mono">{p + 1}/{pages}</span>
            <button class="btn btn-small" disabled={p >= pages - 1} onClick={() => setPage(p + 1)}>›</button>
          </span>
        ) : null}
      </div>
      <div class="table-wrap">
        <table class="table" data-testid="media-table">
          <thead>
            <tr>
              {data.data.columns.map((c, i) => (
                <th key={c} aria-sort={sort?.col === i ? (sort.desc ? "descending" : "ascending") : "none"}>
                  <button class="btn-mini" onClick={() => setSort(sort?.col === i ? (sort.desc ? null : { col: i, desc: true }) : { col: i, desc: false })}>
                    {c} {sort?.col === i ? (sort.desc ? "▼" : "▲") : ""}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(p * PAGE, (p + 1) * PAGE).map((row, r) => (
              <tr key={r}>
                {row.map((c, i) => (
                  <td key={i}>
                    <Cell v={c} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** The run page's Tables tab. */
export function TablesPanel(props: { runId: string; running: boolean }) {
  const enc = encodeURIComponent(props.runId);
  const list = useResource(`tables:${props.runId}`, (signal) => getJson<{ tables: TableItem[] }>(`/api/runs/${enc}/tables`, signal));
  useInterval(list.reload, 5000, props.running);
  const [chosen, setChosen] = useState<string | null>(null);
  if (list.error && !list.data) return <ErrorState error={list.error} onRetry={list.reload} />;
  if (!list.data) return <Loading />;
  const tables = list.data.tables;
  if (!tables.length) return <Empty title={t("table.none")}>{t("table.noneText")} <code>run.log({"{"}"preds": rn.Table(columns, rows){"}"})</code>.</Empty>;
  const item = tables.find((x) => x.path === chosen) ?? tables[tables.length - 1];
  return (
    <div class="card">
      <div class="toolbar">
        <select class="input" aria-label={t("table.choose")} value={item.path} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>
          {tables.map((x) => (
            <option key={x.path} value={x.path}>
              {x.key} · step {x.step ?? "–"} · {x.rows}×{x.columns}
            </option>
          ))}
        </select>
      </div>
      <TableData key={item.path} runId={props.runId} item={item} />
    </div>
  );
}
