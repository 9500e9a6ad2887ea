// The runs page's folder tree of run paths: counts, a live dot for running paths, and a right-click menu.
import { t } from "../i18n/i18n.ts";
import { useEffect, useMemo, useState } from "preact/hooks";
import { useStored } from "../settings.ts";
import type { PathsResponse } from "../types.ts";

interface Node {
  path: string;
  name: string;
  children: Node[];
  total: number;
  running: number;
}

/** Builds the nested tree from the flat `paths` list (which includes ancestors) and per-path stats. */
export function buildTree(res: PathsResponse): Node[] {
  const byPath = new Map<string, Node>();
  const roots: Node[] = [];
  const all = new Set<string>();
  for (const p of res.paths) {
    const segs = p.split("/").filter(Boolean);
    for (let i = 1; i <= segs.length; i++) all.add(segs.slice(0, i).join("/"));
  }
  for (const p of [...all].sort()) {
    const st = res.stats?.[p];
    const slash = p.lastIndexOf("/");
    const node: Node = { path: p, name: slash >= 0 ? p.slice(slash + 1) : p, children: [], total: st?.total ?? 0, running: st?.running ?? 0 };
    byPath.set(p, node);
    const parent = slash >= 0 ? byPath.get(p.slice(0, slash)) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

/** What the tree needs from its page. */
export interface PathTreeProps {
  data: PathsResponse | undefined;
  total: number;
  running: number;
  selected: string;
  onSelect: (path: string) => void;
  onDelete: (path: string) => void;
}

/** The tree with an "All runs" root; click filters, right-click offers delete and export. */
export function PathTree(props: PathTreeProps) {
  const [expanded, setExpanded] = useStored<string[]>("runs_tree_expanded", []);
  const [filter, setFilter] = useState("");
  const [menu, setMenu] = useState<{ x: number; y: number; path: string } | null>(null);
  const roots = useMemo(() => (props.data ? buildTree(props.data) : []), [props.data]);
  const open = new Set(expanded);

  useEffect(() => {
    if (!menu) return;
    const close = () => setMenu(null);
    addEventListener("click", close);
    addEventListener("scroll", close, true);
    return () => {
      removeEventListener("click", close);
      removeEventListener("scroll", close, true);
    };
  }, [menu]);

  const toggle = (p: string) => setExpanded(open.has(p) ? expanded.filter((x) => x !== p) : [...expanded, p]);
  const f = filter.trim().toLowerCase();
  const matches = (n: Node): boolean => !f || n.path.toLowerCase().includes(f) || n.children.some(matches);

  const renderNode = (n: Node, depth: number) => {
    if (!matches(n)) return null;
    const isOpen = open.has(n.path) || !!f;
    return (
      <li key={n.path}>
        <div
          class={`tree-row${props.selected === n.path ? " selected" : ""}`}
          style={{ paddingLeft: `${depth * 14 + 4}px` }}
          data-path={n.path}
          onClick={() => props.onSelect(n.path)}
          onContextMenu={(e) => {
            e.preventDefault();
            setMenu({ x: e.clientX, y: e.clientY, path: n.path });
          }}
        >
          <button
            class={`tree-caret${n.children.length ? "" : " invisible"}`}
            aria-label={isOpen ? t("tree.collapse") : t("tree.expand")}
            onClick={(e) => {
              e.stopPropagation();
              toggle(n.path);
            }}
          >
            {isOpen ? "▾" : "▸"}
          </button>
          <span class="tree-name" title={n.path}>
            {n.name}
          </span>
          {n.running > 0 ? <i class="live-dot" title={t("tree.running", { n: n.running })} /> : null}
          <span class="tree-count">{n.total}</span>
        </div>
        {isOpen && n.children.length ? <ul>{n.children.map((c) => renderNode(c, depth + 1))}</ul> : null}
      </li>
    );
  };

  return (
    <aside class="tree">
      <input class="input tree-filter" placeholder={t("tree.filter")} value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      <ul class="tree-list">
        <li>
          <div class={`tree-row${props.selected === "" ? " selected" : ""}`} onClick={() => props.onSelect("")}>
            <span class="tree-caret invisible" />
            <span class="tree-name">{t("tree.allRuns")}</span>
            {props.running > 0 ? <i class="live-dot" title={t("tree.running", { n: props.running })} /> : null}
            <span class="tree-count">{props.total}</span>
          </div>
        </li>
        {roots.map((n) => renderNode(n, 0))}
      </ul>
      {menu ? (
        <div class="menu" style={{ left: `${menu.x}px`, top: `${menu.y}px` }} role="menu">
          <div class="menu-title">{menu.path}</div>
          <a role="menuitem" href={`/api/paths/export?path=${encodeURIComponent(menu.path)}&format=zip`} download>
            {t("tree.exportZip")}
          </a>
          <a role="menuitem" href={`/api/paths/export?path=${encodeURIComponent(menu.path)}&format=json`} download={`runicorn_export_${menu.path.replace(/\//g, "_")}.json`}>
            {t("tree.exportJson")}
          </a>
          <button role="menuitem" class="danger" onClick={() => props.onDelete(menu.path)}>
            {t("tree.delete")}
          </button>
        </div>
      ) : null}
    </aside>
  );
}
