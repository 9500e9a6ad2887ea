// The run filter language (issue 16): `config.lr <= 0.001 and summary.final_acc > 0.8`,
// `not (config.seed in [0, 1])`, `path ~ "vision/*"`, `tags contains "best"`. This module only parses
// an expression into a tree; the run index compiles the tree to SQL. Errors name the column where
// parsing failed.

/** A literal: JSON's scalars. */
export type FilterValue = string | number | boolean | null;

/** A field reference: `config.optimizer.lr` → ["config", "optimizer", "lr"]. */
export interface FieldRef {
  path: string[];
  /** 1-based column where the field starts (for messages). */
  column: number;
}

/** The parsed expression. */
export type FilterNode =
  | { kind: "and" | "or"; items: FilterNode[] }
  | { kind: "not"; item: FilterNode }
  | { kind: "cmp"; field: FieldRef; op: "==" | "!=" | "<" | "<=" | ">" | ">="; value: FilterValue }
  | { kind: "in"; field: FieldRef; negated: boolean; values: FilterValue[] }
  | { kind: "glob"; field: FieldRef; pattern: string }
  | { kind: "contains"; field: FieldRef; value: FilterValue };

/** A malformed expression; `column` is 1-based. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly column: number,
    readonly reason: string,
    readonly expression: string,
  ) {
    super(`Invalid filter at column ${column}: ${reason}`);
  }
}

/** Longest accepted expression (a URL's worth). */
export const MAX_FILTER_LENGTH = 8192;
const MAX_DEPTH = 64;

type Tok =
  | { t: "str"; v: string; col: number }
  | { t: "num"; v: number; col: number }
  | { t: "word"; v: string; col: number }
  | { t: "field"; v: string[]; col: number }
  | { t: "op"; v: string; col: number }
  | { t: "end"; col: number };

const WORDS = new Set(["and", "or", "not", "in", "contains", "true", "false", "null"]);
const SEGMENT = /[A-Za-z0-9_\-/]/;

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const fail = (col: number, why: string): never => {
    throw new FilterSyntaxError(col, why, src);
  };
  while (i < src.length) {
    const c = src[i];
    const col = i + 1;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if (c === '"') {
      // a JSON string: the same escapes as JSON
      let j = i + 1;
      while (j < src.length && src[j] !== '"') {
        if (src[j] === "\\") j++;
        j++;
      }
      if (j >= src.length) fail(col, "unterminated string (strings use double quotes)");
      try {
        out.push({ t: "str", v: JSON.parse(src.slice(i, j + 1)) as string, col });
      } catch {
        fail(col, "invalid escape in string");
      }
      i = j + 1;
      continue;
    }
    if (c === "'") fail(col, "strings use double quotes");
    const num = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(src.slice(i));
    if (num && (c === "-" || (c >= "0" && c <= "9"))) {
      const after = src[i + num[0].length];
      if (after !== undefined && /[A-Za-z_.]/.test(after)) fail(i + num[0].length + 1, `unexpected '${after}' after the number ${num[0]}`);
      out.push({ t: "num", v: Number(num[0]), col });
      i += num[0].length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (["==", "!=", "<=", ">="].includes(two)) {
      out.push({ t: "op", v: two, col });
      i += 2;
      continue;
    }
    if ("<>~()[],".includes(c)) {
      out.push({ t: "op", v: c, col });
      i++;
      continue;
    }
    if (c === "=") fail(col, "use == to compare");
    if (c === "&" || c === "|") fail(col, `use 'and' / 'or' instead of '${c}${src[i + 1] === c ? c : ""}'`);
    if (c === "`" || /[A-Za-z_]/.test(c)) {
      // a word or a dotted field; a segment in backticks may hold any character but a backtick
      const segs: string[] = [];
      for (;;) {
        if (src[i] === "`") {
          const end = src.indexOf("`", i + 1);
          if (end < 0) fail(i + 1, "unterminated `quoted` field name");
          segs.push(src.slice(i + 1, end));
          i = end + 1;
        } else {
          let j = i;
          while (j < src.length && SEGMENT.test(src[j])) j++;
          if (j === i) fail(i + 1, "expected a field name after '.'");
          segs.push(src.slice(i, j));
          i = j;
        }
        if (src[i] !== ".") break;
        i++;
      }
      if (segs.length === 1 && WORDS.has(segs[0].toLowerCase()) && src[col - 1] !== "`") out.push({ t: "word", v: segs[0].toLowerCase(), col });
      else out.push({ t: "field", v: segs, col });
      continue;
    }
    fail(col, `unexpected character '${c}'`);
  }
  out.push({ t: "end", col: src.length + 1 });
  return out;
}

/** Parses a filter expression; throws FilterSyntaxError with the failing column. */
export function parseFilter(src: string): FilterNode {
  if (src.length > MAX_FILTER_LENGTH) throw new FilterSyntaxError(MAX_FILTER_LENGTH, `expression longer than ${MAX_FILTER_LENGTH} characters`, src.slice(0, 80));
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const fail = (tok: Tok, why: string): never => {
    throw new FilterSyntaxError(tok.col, why, src);
  };
  const describe = (tok: Tok): string =>
    tok.t === "end" ? "the end of the expression" : tok.t === "field" ? `'${tok.v.join(".")}'` : tok.t === "str" ? JSON.stringify(tok.v) : `'${tok.v}'`;
  const isWord = (w: string) => {
    const t = peek();
    return t.t === "word" && t.v === w;
  };
  const isOp = (o: string) => {
    const t = peek();
    return t.t === "op" && t.v === o;
  };

  const value = (): FilterValue => {
    const t = peek();
    if (t.t === "str" || t.t === "num") {
      p++;
      return t.v;
    }
    if (t.t === "word" && (t.v === "true" || t.v === "false" || t.v === "null")) {
      p++;
      return t.v === "null" ? null : t.v === "true";
    }
    if (t.t === "field") fail(t, `expected a value, found the name '${t.v.join(".")}' (put strings in double quotes)`);
    return fail(t, `expected a value, found ${describe(t)}`);
  };

  const list = (): FilterValue[] => {
    if (!isOp("[")) fail(peek(), `expected '[' to start a list, found ${describe(peek())}`);
    p++;
    const out: FilterValue[] = [];
    if (isOp("]")) {
      p++;
      return out;
    }
    for (;;) {
      out.push(value());
      if (isOp(",")) {
        p++;
        continue;
      }
      if (isOp("]")) {
        p++;
        return out;
      }
      fail(peek(), `expected ',' or ']' in the list, found ${describe(peek())}`);
    }
  };

  const comparison = (): FilterNode => {
    const t = peek();
    if (t.t !== "field") return fail(t, `expected a field name (e.g. config.lr), found ${describe(t)}`);
    p++;
    const field: FieldRef = { path: t.v, column: t.col };
    const o = peek();
    if (o.t === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(o.v)) {
      p++;
      return { kind: "cmp", field, op: o.v as "==", value: value() };
    }
    if (o.t === "op" && o.v === "~") {
      p++;
      const v = peek();
      if (v.t !== "str") fail(v, "expected a quoted glob pattern after '~'");
      p++;
      return { kind: "glob", field, pattern: (v as { v: string }).v };
    }
    if (o.t === "word" && o.v === "in") {
      p++;
      return { kind: "in", field, negated: false, values: list() };
    }
    if (o.t === "word" && o.v === "not") {
      p++;
      if (!isWord("in")) fail(peek(), `expected 'in' after 'not', found ${describe(peek())}`);
      p++;
      return { kind: "in", field, negated: true, values: list() };
    }
    if (o.t === "word" && o.v === "contains") {
      p++;
      return { kind: "contains", field, value: value() };
    }
    return fail(o, `expected an operator (== != < <= > >= in, not in, ~, contains) after '${t.v.join(".")}', found ${describe(o)}`);
  };

  let depth = 0;
  const unary = (): FilterNode => {
    if (++depth > MAX_DEPTH) fail(peek(), `nested deeper than ${MAX_DEPTH} levels`);
    try {
      if (isWord("not")) {
        p++;
        return { kind: "not", item: unary() };
      }
      if (isOp("(")) {
        const open = peek();
        p++;
        const inner = or();
        if (!isOp(")")) fail(peek(), `expected ')' to close the '(' at column ${open.col}, found ${describe(peek())}`);
        p++;
        return inner;
      }
      return comparison();
    } finally {
      depth--;
    }
  };
  const and = (): FilterNode => {
    const items = [unary()];
    while (isWord("and")) {
      p++;
      items.push(unary());
    }
    return items.length === 1 ? items[0] : { kind: "and", items };
  };
  const or = (): FilterNode => {
    const items = [and()];
    while (isWord("or")) {
      p++;
      items.push(and());
    }
    return items.length === 1 ? items[0] : { kind: "or", items };
  };

  if (peek().t === "end") fail(peek(), "the expression is empty");
  const tree = or();
  if (peek().t !== "end") fail(peek(), `expected 'and', 'or' or the end, found ${describe(peek())}`);
  return tree;
}

/** Every field the tree names, once each (for "unknown field" reporting and column discovery). */
export function filterFields(node: FilterNode, out: FieldRef[] = []): FieldRef[] {
  switch (node.kind) {
    case "and":
    case "or":
      for (const n of node.items) filterFields(n, out);
      break;
    case "not":
      filterFields(node.item, out);
      break;
    default:
      if (!out.some((f) => f.path.join("\0") === node.field.path.join("\0"))) out.push(node.field);
  }
  return out;
}

/** `path ~ "vision/*"`: a glob (`*` any run of characters, `?` one) as a RegExp over the whole value. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) re += ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${re}$`, "s");
}

/** Kleene three-valued logic: `undefined` is "unknown" (a missing field), and only `true` matches. */
type Truth = boolean | undefined;

function compare(a: unknown, op: string, b: FilterValue): Truth {
  if (a === undefined) return b === null && (op === "==" || op === "!=") ? op === "==" : undefined;
  if (b === null || a === null) {
    if (op === "==") return a === b;
    if (op === "!=") return a !== b;
    return undefined;
  }
  if (op === "==" || op === "!=") {
    const eq = typeof a === typeof b && a === b;
    return op === "==" ? eq : !eq;
  }
  if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string")) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case "<":
      return x < y;
    case "<=":
      return x <= y;
    case ">":
      return x > y;
    default:
      return x >= y;
  }
}

/**
 * Evaluates `node` against one run; `field(path)` returns the field's value, or undefined when the
 * run lacks it. The same semantics as the SQL the index runs (tested against each other): a missing
 * field makes a comparison unknown, `== null` matches missing and null values, ordering across types
 * is false, `contains` is membership for arrays and substring for strings, `~` is a whole-value glob.
 */
export function evaluateFilter(node: FilterNode, field: (path: string[]) => unknown): boolean {
  return evalNode(node, field) === true;
}

function evalNode(node: FilterNode, field: (path: string[]) => unknown): Truth {
  switch (node.kind) {
    case "and": {
      let unknown = false;
      for (const n of node.items) {
        const v = evalNode(n, field);
        if (v === false) return false;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
    case "or": {
      let unknown = false;
      for (const n of node.items) {
        const v = evalNode(n, field);
        if (v === true) return true;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    }
    case "not": {
      const v = evalNode(node.item, field);
      return v === undefined ? undefined : !v;
    }
    case "cmp":
      return compare(field(node.field.path), node.op, node.value);
    case "in": {
      const a = field(node.field.path);
      if (a === undefined) return undefined;
      const hit = node.values.some((v) => compare(a, "==", v) === true);
      return node.negated ? !hit : hit;
    }
    case "glob": {
      const a = field(node.field.path);
      if (a === undefined) return undefined;
      const re = globToRegExp(node.pattern);
      if (Array.isArray(a)) return a.some((x) => typeof x === "string" && re.test(x));
      return typeof a === "string" && re.test(a);
    }
    case "contains": {
      const a = field(node.field.path);
      if (a === undefined) return undefined;
      if (Array.isArray(a)) return a.some((x) => compare(x, "==", node.value) === true);
      return typeof a === "string" && typeof node.value === "string" && a.includes(node.value);
    }
  }
}
