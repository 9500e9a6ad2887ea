// The filter language over a fleet (issue 18): `host` evaluated by the merging server, the rest sent to each host, and the hosts' sorted answers merged.
import { evaluateFilter, type FilterNode, type FilterValue } from "../analysis/filter.ts";
import { lookupJson } from "../analysis/run-fields.ts";
import type { FleetItem } from "./merge.ts";

/**
 * `node` for one host: every comparison on `host` (the fleet label, known here) replaced by its truth
 * for `label`, then simplified. `true`: every run of the host matches (send no filter); `false`: none
 * does (do not ask the host). The host label is always known, so Kleene logic reduces exactly.
 */
export function specialiseForHost(node: FilterNode, label: string): FilterNode | boolean {
  switch (node.kind) {
    case "and":
    case "or": {
      const stop = node.kind === "or";
      const items: FilterNode[] = [];
      for (const n of node.items) {
        const s = specialiseForHost(n, label);
        if (s === stop) return stop;
        if (s !== !stop) items.push(s as FilterNode);
      }
      if (items.length === 0) return !stop;
      return items.length === 1 ? items[0] : { kind: node.kind, items };
    }
    case "not": {
      const s = specialiseForHost(node.item, label);
      return typeof s === "boolean" ? !s : { kind: "not", item: s };
    }
    default:
      if (node.field.path.length === 1 && node.field.path[0] === "host") return evaluateFilter(node, () => label);
      return node;
  }
}

/** The expression text of a tree (parses back to the same tree): fields in backticks, values as JSON. */
export function filterToString(node: FilterNode): string {
  switch (node.kind) {
    case "and":
    case "or":
      return node.items.map((n) => `(${filterToString(n)})`).join(` ${node.kind} `);
    case "not":
      return `not (${filterToString(node.item)})`;
    case "cmp":
      return `${field(node.field.path)} ${node.op} ${value(node.value)}`;
    case "in":
      return `${field(node.field.path)} ${node.negated ? "not in" : "in"} [${node.values.map(value).join(", ")}]`;
    case "glob":
      return `${field(node.field.path)} ~ ${JSON.stringify(node.pattern)}`;
    case "contains":
      return `${field(node.field.path)} contains ${value(node.value)}`;
  }
}

function field(path: string[]): string {
  return path.map((s) => "`" + s + "`").join(".");
}

function value(v: FilterValue): string {
  return v === null ? "null" : typeof v === "boolean" ? String(v) : JSON.stringify(v);
}

/** Sort keys whose values a host's list item does not carry: the merged list keeps host order, each host sorted by it. */
const HOST_ONLY_SORT = new Set(["duration", "notes"]);

/** True when the merged list can order by `sort` from the items' own values. */
export function mergeableSort(sort: string): boolean {
  return !HOST_ONLY_SORT.has(sort);
}

/** The `include` parts a host must add to its items so the merging server can read the sort value. */
export function includeForSort(sort: string | undefined): string[] {
  if (!sort) return [];
  const head = sort.split(".")[0];
  if (head === "config") return ["config"];
  if (head === "summary") return ["summary"];
  if (head === "metric" || head === "metrics") return ["metrics"];
  return [];
}

/** The value a merged item sorts by (the same field names as the filter language). */
export function itemSortValue(item: FleetItem, sort: string): unknown {
  const [head, ...rest] = sort.split(".");
  if (rest.length) {
    const container = head === "metric" ? (item.metric ?? item.metrics) : item[head];
    return lookupJson(container, rest);
  }
  switch (head) {
    case "created_at":
      return item.created_time;
    case "run_id":
      return item.id;
    default:
      return item[head];
  }
}
