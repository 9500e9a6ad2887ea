// The SQL compiled from a filter selects exactly the runs the evaluator selects: random runs in a real
// SQLite table, random expressions, both answers compared one by one.
import { Database } from "bun:sqlite";
import { describe, expect, it } from "bun:test";
import { Kysely, sql } from "kysely";
import { evaluateFilter, parseFilter, type FilterNode } from "../../src/analysis/filter.ts";
import { compileFilter, type FieldSql, jsonField } from "../../src/analysis/filter-sql.ts";
import { BunSqliteDialect, SqliteConnection } from "../../src/index/sqlite-dialect.ts";

let seed = Number(process.env.FILTER_SEED ?? 42);
const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)];

const KEYS = ["lr", "opt", "seed", "flag", "bs", "name"] as const;
const VALUES = [0, 1, 2, 0.5, 0.001, -3, "adam", "sgd", "a*b", "", "Adam", "1", "[1,2]", true, false, null, [1, 2], { x: 1 }] as const;
const STATUSES = ["running", "finished", "failed"] as const;
const TAGS = ["best", "v1", "x*", "Best"] as const;

interface Run {
  id: number;
  status: string | null;
  config: Record<string, unknown>;
  tags: string[];
}

function randomRun(id: number): Run {
  const config: Record<string, unknown> = {};
  for (const k of KEYS) if (rnd(3)) config[k] = pick(VALUES);
  const tags = TAGS.filter(() => rnd(3) === 0);
  return { id, status: rnd(8) ? pick(STATUSES) : null, config, tags };
}

function literal(): string {
  const v = pick([...VALUES.filter((x) => typeof x !== "object" || x === null), 1e-3, "fin*", "b?st"]);
  return JSON.stringify(v);
}

function field(): string {
  return pick(["status", "tags", "config.lr", "config.opt", "config.seed", "config.flag", "config.bs", "config.name", "config.missing", "unknown_field"]);
}

function randomExpr(depth = 0): string {
  const r = rnd(depth > 2 ? 6 : 9);
  if (r === 6) return `(${randomExpr(depth + 1)}) and ${randomExpr(depth + 1)}`;
  if (r === 7) return `${randomExpr(depth + 1)} or ${randomExpr(depth + 1)}`;
  if (r === 8) return `not (${randomExpr(depth + 1)})`;
  const f = field();
  switch (rnd(5)) {
    case 0:
      return `${f} ${pick(["==", "!=", "<", "<=", ">", ">="])} ${literal()}`;
    case 1:
      return `${f} ${pick(["in", "not in"])} [${Array.from({ length: rnd(3) }, literal).join(", ")}]`;
    case 2:
      return `${f} ~ ${JSON.stringify(pick(["*", "fin*", "a*b", "ad?m", "*e*", "[x]", "b?st"]))}`;
    case 3:
      return `${f} contains ${literal()}`;
    default:
      return `${f} == ${literal()}`;
  }
}

function evalRun(run: Run, path: string[]): unknown {
  if (path.length === 1 && path[0] === "status") return run.status ?? undefined;
  if (path.length === 1 && path[0] === "tags") return run.tags;
  if (path[0] === "config" && path.length === 2) return Object.hasOwn(run.config, path[1]) ? run.config[path[1]] : undefined;
  return undefined;
}

function mapField(path: string[]): FieldSql | undefined {
  if (path.length === 1 && path[0] === "status") return { value: sql`status`, type: sql`CASE WHEN status IS NULL THEN NULL ELSE 'text' END` };
  if (path.length === 1 && path[0] === "tags") return { value: sql`tags`, type: sql`'array'`, jsonArray: sql`tags` };
  if (path[0] === "config" && path.length === 2) return jsonField(sql`config`, path.slice(1));
  return undefined;
}

describe("filters compiled to SQL", () => {
  it("select exactly what the evaluator selects, over 1,500 random expressions", async () => {
    const raw = new Database(":memory:");
    const db = new Kysely<any>({ dialect: new BunSqliteDialect(raw, new SqliteConnection(raw)) });
    raw.run("create table run (id integer primary key, status text, config text, tags text)");
    const runs = Array.from({ length: 120 }, (_, i) => randomRun(i));
    const ins = raw.prepare("insert into run values (?, ?, ?, ?)");
    for (const r of runs) ins.run(r.id, r.status, JSON.stringify(r.config), JSON.stringify(r.tags));
    let compared = 0;
    let nonTrivial = 0;
    for (let i = 0; i < 1500; i++) {
      const text = randomExpr();
      const tree: FilterNode = parseFilter(text);
      const want = runs.filter((r) => evaluateFilter(tree, (p) => evalRun(r, p))).map((r) => r.id);
      const unknown: string[] = [];
      const where = compileFilter(tree, mapField, (p) => unknown.push(p.join(".")));
      const got = (await sql<{ id: number }>`select id from run where ${where} order by id`.execute(db)).rows.map((r) => r.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`mismatch for ${text}\nsql: ${got}\njs:  ${want}`);
      if (text.includes("unknown_field")) expect(unknown).toContain("unknown_field");
      compared++;
      if (want.length > 0 && want.length < runs.length) nonTrivial++;
    }
    expect(compared).toBe(1500);
    expect(nonTrivial).toBeGreaterThan(300);
    await db.destroy();
  });
});
