// A run's Markdown notes on the run page, rendered to elements (never as HTML): headings, lists, code, emphasis, http(s) links.
import type { ComponentChildren, VNode } from "preact";
import { t } from "../i18n/i18n.ts";

/** Inline Markdown: `code`, **bold**, *italic*, [text](http…); everything else is text (escaped by Preact). */
export function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(<code>{m[1]}</code>);
    else if (m[2] !== undefined) out.push(<b>{m[2]}</b>);
    else if (m[3] !== undefined) out.push(<i>{m[3]}</i>);
    // only web links: a javascript: or data: URL stays plain text
    else if (/^https?:\/\//i.test(m[5])) out.push(<a href={m[5]} target="_blank" rel="noopener noreferrer">{m[4]}</a>);
    else out.push(m[0]);
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Block Markdown: `#` headings, `-`/`*`/`1.` lists, fenced code, paragraphs. */
export function markdown(src: string): VNode[] {
  const blocks: VNode[] = [];
  const lines = src.replace(/\r\n?/g, "\n").split("\n");
  let para: string[] = [];
  let list: { ordered: boolean; items: string[] } | null = null;
  const flush = () => {
    if (para.length) blocks.push(<p>{inline(para.join(" "))}</p>);
    para = [];
    if (list) blocks.push(list.ordered ? <ol>{list.items.map((x) => <li>{inline(x)}</li>)}</ol> : <ul>{list.items.map((x) => <li>{inline(x)}</li>)}</ul>);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^```/.test(line)) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      blocks.push(<pre class="mono">{code.join("\n")}</pre>);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    const li = /^\s*(?:([-*])|(\d+)\.)\s+(.*)$/.exec(line);
    if (h) {
      flush();
      const Tag = `h${Math.min(6, h[1].length + 2)}` as "h3";
      blocks.push(<Tag>{inline(h[2])}</Tag>);
    } else if (li) {
      if (para.length) {
        blocks.push(<p>{inline(para.join(" "))}</p>);
        para = [];
      }
      const ordered = li[2] !== undefined;
      if (!list || list.ordered !== ordered) {
        flush();
        list = { ordered, items: [] };
      }
      list.items.push(li[3]);
    } else if (!line.trim()) flush();
    else {
      if (list) flush();
      para.push(line.trim());
    }
  }
  flush();
  return blocks;
}

export function RunNotes(props: { notes: string | null | undefined }) {
  if (!props.notes) return null;
  return (
    <section class="run-notes" data-testid="run-notes">
      <h4>{t("notes.title")}</h4>
      <div class="markdown">{markdown(props.notes)}</div>
    </section>
  );
}
