// Live log tail of a run over the page's live socket (`/api/live` with logs): ANSI colours, search, tqdm filter, follow toggle, download; virtualised.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { isTqdm, parseAnsi, stripAnsi } from "../ansi.ts";
import { downloadText } from "../format.ts";
import { fmtInt, t } from "../i18n/i18n.ts";
import { Notice } from "./common.tsx";
import { LOG_TAIL_LINES, useLiveMessages, useLiveRuns, useLiveUp } from "../live.ts";
import { useStored } from "../settings.ts";

const MAX_LINES = 50_000;
const LINE_H = 18;
const OVERSCAN = 30;

/** How tqdm progress lines are shown: each bar's latest state, every update, or none. */
export type TqdmMode = "latest" | "all" | "hide";

/** The bar a tqdm line belongs to: its text before the percentage (tqdm's `desc`). */
function tqdmBar(plain: string): string {
  const m = /\d{1,3}%\|/.exec(plain);
  return (m ? plain.slice(0, m.index) : plain).replace(/^\s*\[[\d:]+\]\s*/, "").trim();
}

/**
 * The lines to show: with `latest`, consecutive updates of one tqdm bar collapse into the newest
 * (a running loop shows its current state; a finished bar stays at 100 %); `hide` drops them.
 */
export function filterLogLines(all: string[], mode: TqdmMode, needle: string): string[] {
  const out: string[] = [];
  let lastBar: string | null = null;
  for (const l of all) {
    const plain = stripAnsi(l);
    const tq = isTqdm(l);
    if (tq && mode === "hide") continue;
    if (needle && !plain.toLowerCase().includes(needle)) continue;
    if (tq && mode === "latest") {
      const bar = tqdmBar(plain);
      if (lastBar === bar && out.length) out[out.length - 1] = l;
      else out.push(l);
      lastBar = bar;
      continue;
    }
    lastBar = null;
    out.push(l);
  }
  return out;
}

/** The log panel; `downloadUrl` serves the whole logs.txt (falls back to the lines in memory). */
export function LogsViewer(props: { runId: string; downloadUrl?: string; running: boolean }) {
  const lines = useRef<string[]>([]);
  const [version, setVersion] = useState(0);
  // the first push after a (re)subscription is the tail; when it is full, older lines exist
  const [partial, setPartial] = useState(false);
  const tailNext = useRef(false);
  const [search, setSearch] = useState("");
  const [tqdm, setTqdm] = useStored<TqdmMode>("logs_tqdm_mode", "latest");
  const [follow, setFollow] = useState(true);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(480);
  const box = useRef<HTMLDivElement>(null);

  // Lines arrive on the page's one live socket; several pushes per frame are drawn once.
  const liveUp = useLiveUp();
  const frame = useRef(0);
  const flush = () => {
    frame.current = 0;
    if (lines.current.length > MAX_LINES) lines.current = lines.current.slice(-MAX_LINES);
    setVersion((v) => v + 1);
  };
  useLiveMessages((m) => {
    if (m.run_id !== props.runId) return;
    if (m.type === "logs_reset") {
      lines.current = [];
      tailNext.current = true;
      setPartial(false);
    } else if (m.type === "logs") {
      if (tailNext.current && m.lines.length >= LOG_TAIL_LINES) setPartial(true);
      tailNext.current = false;
      for (const line of m.lines) for (const l of line.split("\n")) if (l.length) lines.current.push(l);
    } else return;
    if (!frame.current) frame.current = requestAnimationFrame(flush);
  });
  // after the listener above, so that it hears the subscription's `logs_reset`
  useLiveRuns([props.runId], true);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const everUp = useRef(false);
  if (liveUp) everUp.current = true;
  const conn = liveUp ? "open" : everUp.current ? "retry" : "connecting";

  const needle = search.trim().toLowerCase();
  const visible = useMemo(() => filterLogLines(lines.current, tqdm, needle), [version, tqdm, needle]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setViewH(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  }, [visible, follow]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_H * 2;
    if (follow !== atBottom) setFollow(atBottom);
  };

  const first = Math.max(0, Math.floor(scrollTop / LINE_H) - OVERSCAN);
  const last = Math.min(visible.length, Math.ceil((scrollTop + viewH) / LINE_H) + OVERSCAN);
  const slice = visible.slice(first, last);

  const download = () => {
    if (props.downloadUrl) location.assign(props.downloadUrl);
    else downloadText(`${props.runId}_logs.txt`, lines.current.map(stripAnsi).join("\n") + "\n");
  };

  return (
    <div class="logs">
      <div class="toolbar">
        <input class="input search" type="search" placeholder={t("logs.search")} aria-label={t("logs.search")} value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <label class="field-inline">
          {t("logs.tqdm")}
          <select class="input" aria-label={t("logs.tqdm")} value={tqdm} onChange={(e) => setTqdm((e.target as HTMLSelectElement).value as TqdmMode)} data-testid="tqdm-mode">
            <option value="latest">{t("logs.tqdm.latest")}</option>
            <option value="all">{t("logs.tqdm.all")}</option>
            <option value="hide">{t("logs.tqdm.hide")}</option>
          </select>
        </label>
        <label class="field-inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} aria-label={t("logs.follow")} />
          {t("logs.follow")}
        </label>
        <span class="spacer" />
        <span class={`conn conn-${conn}`} data-testid="logs-conn">
          {conn === "open" ? (props.running ? t("logs.live") : t("logs.ended")) : conn === "connecting" ? t("logs.connecting") : t("logs.reconnecting")}
        </span>
        <span class="muted">{t("logs.lines", { n: fmtInt(visible.length) })}</span>
        <button class="btn" onClick={download}>
          {t("common.download")}
        </button>
      </div>
      {partial ? (
        <Notice id="logs-tail" dismissLabel={t("common.dismiss")}>
          {t("logs.tailNotice", { n: fmtInt(LOG_TAIL_LINES) })}
        </Notice>
      ) : null}
      <div class="log-box" ref={box} onScroll={onScroll} data-testid="log-box">
        {visible.length === 0 ? (
          <div class="muted log-empty">{lines.current.length ? t("logs.noMatch") : conn === "open" ? t("logs.none") : ""}</div>
        ) : (
          <div style={{ height: `${visible.length * LINE_H}px`, position: "relative" }}>
            <div style={{ transform: `translateY(${first * LINE_H}px)` }}>
              {slice.map((l, i) => (
                <LogLine key={first + i} n={first + i + 1} line={l} needle={needle} />
              ))}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}

function highlight(text: string, needle: string) {
  if (!needle) return text;
  const low = text.toLowerCase();
  const out: (string | preact.JSX.Element)[] = [];
  let i = 0;
  for (let j = low.indexOf(needle); j >= 0; j = low.indexOf(needle, i)) {
    if (j > i) out.push(text.slice(i, j));
    out.push(<mark key={j}>{text.slice(j, j + needle.length)}</mark>);
    i = j + needle.length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}

function LogLine(props: { n: number; line: string; needle: string }) {
  const sys = props.line.startsWith("[info] ") || props.line.startsWith("[error] ");
  return (
    <div class={`log-line${sys ? (props.line.startsWith("[error]") ? " log-sys log-err" : " log-sys") : ""}`}>
      <span class="log-n">{props.n}</span>
      <span class="log-t">
        {parseAnsi(props.line).map((s, i) => (
          <span
            key={i}
            style={{
              color: s.fg,
              background: s.bg,
              fontWeight: s.bold ? 600 : undefined,
              opacity: s.dim ? 0.7 : undefined,
              fontStyle: s.italic ? "italic" : undefined,
              textDecoration: s.underline ? "underline" : undefined,
            }}
          >
            {highlight(s.text, props.needle)}
          </span>
        ))}
      </span>
    </div>
  );
}
