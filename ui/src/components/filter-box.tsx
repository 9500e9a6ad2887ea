// The filter-expression box: field-name completion at the caret, a warning for unknown fields, and the parse error pointed at its column.
import { useState } from "preact/hooks";
import { t } from "../i18n/i18n.ts";

/** The field-like word that ends at `caret` (letters, digits, `_ . / -`), and where it starts. */
export function wordAt(text: string, caret: number): { start: number; word: string } {
  const m = /[A-Za-z0-9_./-]*$/.exec(text.slice(0, caret));
  const word = m ? m[0] : "";
  return { start: caret - word.length, word };
}

/** Fields that complete `word`: prefix matches first, then substring matches; at most `limit`. */
export function completions(fields: string[], word: string, limit = 12): string[] {
  if (!word) return [];
  const w = word.toLowerCase();
  const prefix = fields.filter((f) => f.toLowerCase().startsWith(w) && f.toLowerCase() !== w);
  const inner = fields.filter((f) => !f.toLowerCase().startsWith(w) && f.toLowerCase().includes(w));
  return [...prefix, ...inner].slice(0, limit);
}

/** The 1-based column a server message "… at column N: …" names, or null. */
export function errorColumn(message: string): number | null {
  const m = /column (\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}

export function FilterBox(props: { value: string; fields: string[]; unknown: string[]; error: string | null; onApply: (expr: string) => void }) {
  const [text, setText] = useState(props.value);
  const [caret, setCaret] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const { start, word } = wordAt(text, caret);
  const options = open ? completions(props.fields, word) : [];
  const col = props.error ? errorColumn(props.error) : null;

  const pick = (field: string, input: HTMLInputElement | null) => {
    const next = text.slice(0, start) + field + text.slice(caret);
    setText(next);
    setOpen(false);
    const pos = start + field.length;
    setCaret(pos);
    if (input) requestAnimationFrame(() => input.setSelectionRange(pos, pos));
  };

  return (
    <div class="filter-box" data-testid="filter-box">
      <div class="filter-input-wrap">
        <input
          class="input mono filter-input"
          type="text"
          spellcheck={false}
          placeholder={t("analysis.filter.placeholder")}
          aria-label={t("analysis.filter.aria")}
          value={text}
          onInput={(e) => {
            const el = e.target as HTMLInputElement;
            setText(el.value);
            setCaret(el.selectionStart ?? el.value.length);
            setOpen(true);
            setActive(0);
          }}
          onBlur={() => setTimeout(() => setOpen(false), 150)}
          onKeyDown={(e) => {
            const el = e.target as HTMLInputElement;
            if (options.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
              e.preventDefault();
              setActive((active + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
            } else if (options.length && (e.key === "Tab" || (e.key === "Enter" && open))) {
              e.preventDefault();
              pick(options[Math.min(active, options.length - 1)], el);
            } else if (e.key === "Enter") {
              setOpen(false);
              props.onApply(text.trim());
            } else if (e.key === "Escape") setOpen(false);
          }}
        />
        {options.length ? (
          <ul class="menu filter-complete" role="listbox" data-testid="filter-completions">
            {options.map((o, i) => (
              <li
                key={o}
                role="option"
                aria-selected={i === active}
                class={i === active ? "active" : ""}
                onMouseDown={(e) => {
                  e.preventDefault();
                  pick(o, (e.currentTarget as HTMLElement).closest(".filter-box")?.querySelector("input") ?? null);
                }}
              >
                <code>{o}</code>
              </li>
            ))}
          </ul>
        ) : null}
        <button class="btn" onClick={() => props.onApply(text.trim())}>
          {t("analysis.filter.apply")}
        </button>
        {props.value ? (
          <button
            class="btn"
            onClick={() => {
              setText("");
              props.onApply("");
            }}
          >
            {t("analysis.filter.clear")}
          </button>
        ) : null}
      </div>
      {props.error ? (
        <div class="inline-error filter-error" role="alert" data-testid="filter-error">
          <div>{props.error}</div>
          {col !== null ? (
            <pre class="mono filter-caret" data-testid="filter-caret">
              {props.value}
              {"\n"}
              {" ".repeat(Math.max(0, col - 1))}^
            </pre>
          ) : null}
        </div>
      ) : null}
      {!props.error && props.unknown.length ? (
        <div class="notice filter-unknown" data-testid="filter-unknown">
          {t("analysis.filter.unknown", { fields: props.unknown.join(", ") })}
        </div>
      ) : null}
    </div>
  );
}
