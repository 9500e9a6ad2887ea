// A read-only, collapsible view of a JSON value (config, environment, summary).
import { useState } from "preact/hooks";
import { fmtNum } from "../format.ts";

/** Renders objects and arrays as nested, collapsible key/value lists. */
export function JsonView(props: { value: unknown; name?: string; depth?: number }) {
  const depth = props.depth ?? 0;
  const [open, setOpen] = useState(depth < 2);
  const v = props.value;
  const label = props.name !== undefined ? <span class="jv-key">{props.name}: </span> : null;
  if (v === null || typeof v !== "object") {
    const cls = v === null ? "jv-null" : typeof v === "string" ? "jv-str" : "jv-num";
    return (
      <div class="jv-row">
        {label}
        <span class={cls}>{typeof v === "string" ? JSON.stringify(v) : v === null ? "null" : fmtNum(v)}</span>
      </div>
    );
  }
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as Record<string, unknown>);
  return (
    <div class="jv-row">
      <button class="jv-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        {open ? "▾" : "▸"}
      </button>
      {label}
      <span class="muted">{Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`}</span>
      {open ? (
        <div class="jv-children">
          {entries.map(([k, x]) => (
            <JsonView key={k} name={k} value={x} depth={depth + 1} />
          ))}
        </div>
      ) : null}
    </div>
  );
}
