// Parses the original's HTTP captures (shared/spec/runicorn-0.6-http-captures.txt) into replayable records.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT } from "../helpers/server.ts";

/** Where the captures of the real Runicorn 0.6 viewer live. */
export const CAPTURES_FILE = join(PROJECT, "../shared/spec/runicorn-0.6-http-captures.txt");

/** Marks an object or array whose captured text was cut off (`...<truncated>`): only its prefix is known. */
export const PARTIAL = Symbol("partial");

/** One `#### METHOD PATH` section of the captures file. */
export interface Capture {
  /** 1-based line of the `####` header, to name the capture in test output. */
  line: number;
  /** Which `# Section N` of the file it belongs to (1 = local endpoints, 2 = SSH session, 3 = bench). */
  section: number;
  method: string;
  /** The request target as written (a path with query, or a description such as `assets/download (blob)`). */
  target: string;
  /** The JSON request body, if the header had `body=…`. */
  body?: unknown;
  /** Whether the header carried `body=…` at all (`body={}` differs from no body). */
  hasBody: boolean;
  status: number;
  /** Response headers as captured (lower-case names); empty for the short `ct=… cd=…` form. */
  headers: Record<string, string>;
  /** `ct=` and `cd=` of the short form used for binary answers (zip downloads). */
  contentType?: string;
  contentDisposition?: string;
  /** `entries=[…]` of a captured zip. */
  zipEntries?: string[];
  /** The JSON response body (may contain objects/arrays marked with PARTIAL), or undefined when none. */
  json?: unknown;
  /** Lines after the body that are notes of the capturer (file contents, selected rows…), keyed by their label. */
  notes: Record<string, string>;
}

/** Reads and parses every capture of the file, in file order. */
export function loadCaptures(file = CAPTURES_FILE): Capture[] {
  return parseCaptures(readFileSync(file, "utf8"));
}

/** Parses the text of a captures file. */
export function parseCaptures(text: string): Capture[] {
  const lines = text.split("\n");
  const out: Capture[] = [];
  let section = 0;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const sec = /^# Section (\d+)/.exec(line);
    if (sec) section = Number(sec[1]);
    const head = /^#### (\S+) (.*?)\s*$/.exec(line);
    if (!head) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1;
    while (end < lines.length && !lines[end].startsWith("#### ") && !lines[end].startsWith("# Section")) end++;
    out.push(parseOne(section, start + 1, head[1], head[2], lines.slice(i + 1, end)));
    i = end;
  }
  return out;
}

function parseOne(section: number, line: number, method: string, rest: string, body: string[]): Capture {
  const bodyAt = rest.indexOf(" body=");
  const target = (bodyAt >= 0 ? rest.slice(0, bodyAt) : rest).trim();
  const cap: Capture = { line, section, method, target, hasBody: bodyAt >= 0, status: 0, headers: {}, notes: {} };
  if (bodyAt >= 0) cap.body = JSON.parse(rest.slice(bodyAt + " body=".length).trim());
  let j = 0;
  const statusLine = body[j++] ?? "";
  const st = /^status=(\d+)\s*(.*)$/.exec(statusLine);
  if (!st) throw new Error(`captures line ${line + 1}: no status line`);
  cap.status = Number(st[1]);
  const tail = st[2];
  if (tail.startsWith("headers=")) {
    cap.headers = pythonLiteral(tail.slice("headers=".length)) as Record<string, string>;
  } else {
    const ct = /\bct=(\S+)/.exec(tail);
    const cd = /\bcd=(.*?)(?= entries=| len=|$)/.exec(tail);
    const entries = /\bentries=(\[.*\])/.exec(tail);
    if (ct) cap.contentType = ct[1];
    if (cd) cap.contentDisposition = cd[1].trim();
    if (entries) cap.zipEntries = pythonLiteral(entries[1]) as string[];
  }
  // The JSON body: from a line starting with `{` or `[` to the matching column-0 closer (or a truncation).
  if (j < body.length && /^[[{]/.test(body[j])) {
    const open = body[j][0];
    const close = open === "{" ? "}" : "]";
    const jsonLines: string[] = [];
    let truncated = false;
    for (; j < body.length; j++) {
      jsonLines.push(body[j]);
      if (body[j].includes("...<truncated>")) {
        truncated = true;
        j++;
        break;
      }
      if (body[j] === close || (jsonLines.length === 1 && body[j].endsWith(close))) {
        j++;
        break;
      }
    }
    const text = jsonLines.join("\n");
    cap.json = truncated ? parsePartialJson(text.slice(0, text.indexOf("...<truncated>"))) : JSON.parse(text);
  }
  // Notes: `label: value` lines, a value may span lines until the next blank line.
  for (; j < body.length; j++) {
    const m = /^([^\s:{"][^:{]*?):\s(.*)$/.exec(body[j]);
    if (!m || body[j].trim() === "") continue;
    let value = m[2];
    while (j + 1 < body.length && body[j + 1].trim() !== "" && !/^[^\s:{[\]}"]+[^:]*: /.test(body[j + 1])) value += "\n" + body[++j];
    cap.notes[m[1].trim()] = value.trim();
  }
  return cap;
}

/** Converts a Python literal (dict/list repr with 'str', None, True, False) to a JS value. */
export function pythonLiteral(text: string): unknown {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      let str = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\") {
          const e = text[j + 1];
          str += e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e;
          j += 2;
        } else str += text[j++];
      }
      out += JSON.stringify(str);
      i = j + 1;
      continue;
    }
    const word = /^(None|True|False)\b/.exec(text.slice(i));
    if (word) {
      out += word[1] === "None" ? "null" : word[1] === "True" ? "true" : "false";
      i += word[1].length;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(out);
}

/**
 * Parses JSON text that was cut off: every container still open at the end is closed and marked
 * with PARTIAL; a value cut in the middle (and its key) is dropped.
 */
export function parsePartialJson(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const END = Symbol("end");
  const value = (): unknown => {
    ws();
    if (i >= text.length) return END;
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: Record<string, unknown> = {};
      for (;;) {
        ws();
        if (i >= text.length) return mark(obj);
        if (text[i] === "}") {
          i++;
          return obj;
        }
        if (text[i] === ",") {
          i++;
          continue;
        }
        const key = value();
        if (key === END || typeof key !== "string") return mark(obj);
        ws();
        if (text[i] !== ":") return mark(obj);
        i++;
        const v = value();
        if (v === END) return mark(obj);
        obj[key] = v;
        if (isPartial(v)) return mark(obj);
      }
    }
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      for (;;) {
        ws();
        if (i >= text.length) return mark(arr);
        if (text[i] === "]") {
          i++;
          return arr;
        }
        if (text[i] === ",") {
          i++;
          continue;
        }
        const v = value();
        if (v === END) return mark(arr);
        arr.push(v);
        if (isPartial(v)) return mark(arr);
      }
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) return END;
      const s = JSON.parse(text.slice(i, j + 1));
      i = j + 1;
      return s;
    }
    const tok = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!tok) return END;
    i += tok[1].length;
    // the last token before the cut may itself be cut (`0.00` of `0.001`): drop it
    if (text.slice(i).trim() === "") return END;
    return JSON.parse(tok[1]);
  };
  const v = value();
  if (v === END) throw new Error("nothing to parse");
  return v;
}

function mark<T extends object>(o: T): T {
  Object.defineProperty(o, PARTIAL, { value: true, enumerable: false });
  return o;
}

/** Whether a parsed value is a container whose end was cut off in the capture. */
export function isPartial(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[PARTIAL] === true;
}
