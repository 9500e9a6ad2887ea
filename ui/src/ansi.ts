// Parses ANSI SGR colour codes of console log lines into styled segments, and recognises tqdm progress lines.

/** A run of text with one style. */
export interface Segment {
  text: string;
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

const BASE = ["#000000", "#cd3131", "#0dbc79", "#c8a500", "#2472c8", "#bc3fbc", "#11a8cd", "#a0a0a0"];
const BRIGHT = ["#666666", "#f14c4c", "#23d18b", "#e5e510", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5"];

function color256(n: number): string | undefined {
  if (n < 8) return BASE[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n < 232) {
    const c = n - 16;
    const v = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${v(Math.floor(c / 36))},${v(Math.floor(c / 6) % 6)},${v(c % 6)})`;
  }
  if (n < 256) {
    const g = 8 + (n - 232) * 10;
    return `rgb(${g},${g},${g})`;
  }
  return undefined;
}

// CSI sequences: colours (m) are interpreted, the rest (cursor moves, erase line) are dropped.
const CSI = /\x1b\[([0-9;?]*)([A-Za-z])/g;

/** Splits a line into styled segments; unknown escape sequences are removed. */
export function parseAnsi(line: string): Segment[] {
  if (!line.includes("\x1b")) return [{ text: line }];
  const out: Segment[] = [];
  let style: Omit<Segment, "text"> = {};
  let last = 0;
  CSI.lastIndex = 0;
  for (let m = CSI.exec(line); m; m = CSI.exec(line)) {
    if (m.index > last) out.push({ text: line.slice(last, m.index), ...style });
    last = m.index + m[0].length;
    if (m[2] !== "m") continue;
    const codes = m[1] === "" ? [0] : m[1].split(";").map((x) => Number(x) || 0);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) style = {};
      else if (c === 1) style = { ...style, bold: true };
      else if (c === 2) style = { ...style, dim: true };
      else if (c === 3) style = { ...style, italic: true };
      else if (c === 4) style = { ...style, underline: true };
      else if (c === 22) style = { ...style, bold: false, dim: false };
      else if (c === 23) style = { ...style, italic: false };
      else if (c === 24) style = { ...style, underline: false };
      else if (c >= 30 && c <= 37) style = { ...style, fg: BASE[c - 30] };
      else if (c >= 90 && c <= 97) style = { ...style, fg: BRIGHT[c - 90] };
      else if (c >= 40 && c <= 47) style = { ...style, bg: BASE[c - 40] };
      else if (c >= 100 && c <= 107) style = { ...style, bg: BRIGHT[c - 100] };
      else if (c === 39) style = { ...style, fg: undefined };
      else if (c === 49) style = { ...style, bg: undefined };
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        const col = color256(codes[i + 2] ?? 0);
        style = c === 38 ? { ...style, fg: col } : { ...style, bg: col };
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        const col = `rgb(${codes[i + 2] ?? 0},${codes[i + 3] ?? 0},${codes[i + 4] ?? 0})`;
        style = c === 38 ? { ...style, fg: col } : { ...style, bg: col };
        i += 4;
      }
    }
  }
  if (last < line.length) out.push({ text: line.slice(last), ...style });
  return out.filter((s) => s.text.length > 0);
}

/** The line without escape sequences (for search and download). */
export function stripAnsi(line: string): string {
  return line.replace(CSI, "").replace(/\x1b[^[]/g, "");
}

// spec §7.2: the original's tqdm filter patterns.
const TQDM = [/\d{1,3}%\|[█▏▎▍▌▋▊▉#\-\s]+\|/, /\d{1,3}%\|.*\|\s*\d+\/\d+\s*\[/, /^\s*\d{1,3}%\|/];

/** True for tqdm progress-bar lines. */
export function isTqdm(line: string): boolean {
  const plain = stripAnsi(line);
  return TQDM.some((re) => re.test(plain));
}
