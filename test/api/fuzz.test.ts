// Sends thousands of generated bad inputs to every route in the OpenAPI document and checks that
// nothing answers 5xx, nothing outside ROOT changes, and the server still answers afterwards.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const VALID_ID = "20261129_032935_bfa7ab";
const BAD_SEGMENTS = [
  "..", "../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc", "%00", "x".repeat(3000), "ü🚀", "20990101_000000_zzzzzz",
  "-1", "1e309", "NaN", "%2Fetc%2Fpasswd", "C:%5Cwindows", VALID_ID, "' OR 1=1 --", "%3Cscript%3E",
];
const BAD_QUERY_VALUES = ["", "-1", "1e309", "99999999999999999999", "abc", "..%2F..%2Fetc", "%00", "/etc/passwd", "x".repeat(3000), "true", "%FF%FE", "[]", "{}"];
const BAD_BODIES: (string | undefined)[] = [
  undefined, "", "{", "null", "[]", '"str"', "123", "true", '{"run_ids": 5}', '{"run_ids": [null]}',
  '{"run_ids": ["' + "a".repeat(10000) + '"]}', '{"path": "/etc"}', '{"path": "../../../tmp"}', '{"path": "\\u0000"}',
  '{"alias": {"x": 1}, "tags": [[1]]}', '{"confirm": "yes"}', '{"widths": {"a": 1e308}}', '{"table": "' + "t".repeat(5000) + '"}',
  JSON.stringify({ a: Array(200).fill({ b: Array(50).fill("z") }) }), "[".repeat(5000) + "]".repeat(5000),
  '{"run_ids": ["' + VALID_ID + '"], "dry_run": "maybe"}', '{"host": 5, "port": "x"}', '{"session_id": ["x"]}',
];

/** Routes whose side effects leave ROOT by design (re-pointing the root, opening SSH connections): fuzzed with wrong types only. */
const OUTSIDE_EFFECTS = [/^\/api\/config\/user_root_dir$/, /^\/api\/remote\//, /^\/api\/config\/ssh_connections/];

/** Files under `dir` with size and mtime, leaving out `skip` folders (ROOT, and the per-user config the API edits by design). */
function snapshot(dir: string, ...skip: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.some((k) => p === k || p.startsWith(k + "/"))) continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.set(p, `${st.size}:${st.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

describe("bad input across every endpoint", () => {
  let s: TestServer;
  let before: Map<string, string>;
  let outside: string;
  beforeAll(async () => {
    s = await startTestServer({ fixture: "rn-probe" });
    outside = join(s.dir, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret.txt"), "do not touch");
    before = snapshot(s.dir, s.root, s.ctx.config.configDir);
  });
  afterAll(() => s.close());

  it("never answers 5xx, touches nothing outside ROOT and keeps answering", async () => {
    const doc = (await s.api("/openapi.json")).body;
    const failures: string[] = [];
    let sent = 0;
    const send = async (method: string, path: string, body?: string) => {
      sent++;
      let res: Response;
      try {
        res = await fetch(s.url + path, { method, body, headers: body !== undefined ? { "content-type": "application/json" } : {}, signal: AbortSignal.timeout(10000) });
      } catch (e) {
        failures.push(`${method} ${path.slice(0, 120)}: ${(e as Error).message}`);
        return;
      }
      await res.arrayBuffer();
      if (res.status >= 500) failures.push(`${method} ${path.slice(0, 120)} ${body?.slice(0, 60) ?? ""} → ${res.status}`);
    };
    for (const [template, ops] of Object.entries<any>(doc.paths)) {
      if (template.includes("/ws") || template === "/*") continue;
      const restricted = OUTSIDE_EFFECTS.some((re) => re.test(template));
      for (const [method, op] of Object.entries<any>(ops)) {
        const m = method.toUpperCase();
        if (!["GET", "POST", "PATCH", "PUT", "DELETE"].includes(m)) continue;
        const params: any[] = op.parameters ?? [];
        const queryNames = params.filter((p) => p.in === "query").map((p) => p.name);
        const paths = template.includes("{")
          ? BAD_SEGMENTS.map((seg) => template.replace(/\{[^}]+\}/g, seg))
          : [template];
        for (const p of paths) {
          if (m === "GET" || m === "DELETE") await send(m, p);
          for (const name of queryNames) {
            for (const v of BAD_QUERY_VALUES) {
              if (restricted && name === "path") continue;
              await send(m, `${p}?${name}=${v}`);
            }
          }
          if (m !== "GET") {
            for (const body of BAD_BODIES) {
              if (restricted && body && /"(path|host)"/.test(body)) continue;
              await send(m, p, body);
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(2000);
    expect(snapshot(s.dir, s.root, s.ctx.config.configDir)).toEqual(before);
    expect((await s.api("/api/health")).status).toBe(200);
  }, 240_000);
});
