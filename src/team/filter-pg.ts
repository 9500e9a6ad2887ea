// The run filter language (src/analysis/filter.ts's parser) compiled to PostgreSQL over team_run, with the
// semantics of the SQLite compiler (src/analysis/filter-sql.ts) and of `evaluateFilter`: a missing field is
// unknown (SQL NULL), `== null` matches missing and JSON null, values of different JSON types are never equal
// and never ordered, booleans are not numbers. Every field reads as one jsonb expression (NULL when missing).
import type { FilterNode, FilterValue } from "../analysis/filter.ts";
import { metricFieldOf } from "../analysis/run-fields.ts";

/** SQL text with `$n` placeholders and their values, for `sql.unsafe(text, params)`. */
export class PgQuery {
  readonly params: unknown[] = [];
  /** A placeholder for `v` (typed, so PostgreSQL never has to guess). */
  param(v: string | number): string {
    this.params.push(v);
    return `$${this.params.length}::${typeof v === "number" ? "float8" : "text"}`;
  }
}

/** A jsonb path literal `{a,b}` for `#>` (keys double-quoted, so dots, commas and braces stay inside a key). */
function pathParam(q: PgQuery, keys: string[]): string {
  const lit = `{${keys.map((k) => `"${k.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(",")}}`;
  return `${q.param(lit)}::text[]`;
}

/** A team_run field as jsonb (NULL when missing), or undefined for a field no run has. `now` counts running durations. */
export function teamFieldJson(q: PgQuery, path: string[], now: number): string | undefined {
  const [head, ...rest] = path;
  if (head === "config" && rest.length) return `(config #> ${pathParam(q, rest)})`;
  if (head === "summary" && rest.length) return `(summary #> ${pathParam(q, rest)})`;
  const metric = metricFieldOf(path);
  if (metric) return `(metrics #> ${pathParam(q, metric)})`;
  if (rest.length) return undefined;
  const nullable = (expr: string) => `coalesce(to_jsonb(${expr}), 'null'::jsonb)`;
  const started = `(case when jsonb_typeof(status->'started_at') = 'number' then (status->>'started_at')::float8 end)`;
  const ended = `(case when jsonb_typeof(status->'ended_at') = 'number' then (status->>'ended_at')::float8 end)`;
  switch (head) {
    case "run_id":
    case "id":
      return "to_jsonb(run_id)";
    case "status":
      return `to_jsonb(coalesce(nullif(status->>'status', ''), 'finished'))`;
    case "path":
      return nullable(`nullif(path, '')`);
    case "alias":
      return nullable(`nullif(meta->>'alias', '')`);
    case "tags":
      return `(case when jsonb_typeof(meta->'tags') = 'array' then meta->'tags' else '[]'::jsonb end)`;
    case "host":
      return nullable(`nullif(meta->>'hostname', '')`);
    case "notes":
      return nullable(`nullif(meta->>'notes', '')`);
    case "created_at":
      return "to_jsonb(created_at)";
    case "duration":
      return nullable(
        `(case when ${started} is null then null when ${ended} is not null then ${ended} - ${started} ` +
          `when coalesce(status->>'status', 'finished') = 'running' then ${q.param(now)} - ${started} end)`,
      );
    default:
      return undefined;
  }
}

/** A glob (`*`, `?`, case-sensitive) as a LIKE pattern with `\` escapes. */
function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%").replace(/\?/g, "_");
}

/** Compiles `node` to a boolean SQL expression over team_run; unknown fields are reported and read as missing. */
export function compileFilterPg(q: PgQuery, node: FilterNode, now: number, onUnknown?: (path: string[]) => void): string {
  const field = (path: string[]): string => {
    const f = teamFieldJson(q, path, now);
    if (f === undefined) {
      onUnknown?.(path);
      return "(null::jsonb)";
    }
    return f;
  };
  const typeOf = (j: string) => `jsonb_typeof(${j})`;
  const numOf = (j: string) => `(${j} #>> '{}')::float8`;
  const textOf = (j: string) => `(${j} #>> '{}')`;
  const eqValue = (j: string, v: FilterValue): string => {
    if (v === null) return `(${typeOf(j)} = 'null')`;
    if (typeof v === "boolean") return `(${j} = '${v}'::jsonb)`;
    // a CASE, not AND: PostgreSQL may evaluate either side of an AND first, and a string does not cast
    if (typeof v === "number") return `(case when ${typeOf(j)} = 'number' then ${numOf(j)} = ${q.param(v)} else false end)`;
    return `(${typeOf(j)} = 'string' and ${textOf(j)} = ${q.param(v)})`;
  };
  const walk = (n: FilterNode): string => {
    switch (n.kind) {
      case "and":
        return `(${n.items.map(walk).join(" and ")})`;
      case "or":
        return `(${n.items.map(walk).join(" or ")})`;
      case "not":
        return `(not ${walk(n.item)})`;
      case "cmp": {
        const j = field(n.field.path);
        const v = n.value;
        if (v === null) {
          if (n.op === "==") return `(${j} is null or ${typeOf(j)} = 'null')`;
          if (n.op === "!=") return `(${j} is not null and ${typeOf(j)} <> 'null')`;
          return "(null::boolean)";
        }
        const missing = `${j} is null`;
        const isNull = `${typeOf(j)} = 'null'`;
        if (n.op === "==" || n.op === "!=") {
          const ne = n.op === "==" ? "false" : "true";
          if (typeof v === "boolean") {
            const eq = eqValue(j, v);
            return `(case when ${missing} then null when ${isNull} then ${ne} else ${n.op === "==" ? eq : `not ${eq}`} end)`;
          }
          const [type, val] = typeof v === "number" ? ["number", numOf(j)] : ["string", textOf(j)];
          return `(case when ${typeOf(j)} = '${type}' then ${val} ${n.op === "==" ? "=" : "<>"} ${q.param(v)} when ${missing} then null else ${ne} end)`;
        }
        if (typeof v === "boolean") return `(case when ${missing} or ${isNull} then null else false end)`;
        const [type, val] = typeof v === "number" ? ["number", numOf(j)] : ["string", `${textOf(j)} collate "C"`];
        return `(case when ${typeOf(j)} = '${type}' then ${val} ${n.op} ${q.param(v)} when ${missing} or ${isNull} then null else false end)`;
      }
      case "in": {
        const j = field(n.field.path);
        const hits = n.values.map((v) => eqValue(j, v));
        const any = hits.length ? `(${hits.join(" or ")})` : "false";
        return `(case when ${j} is null then null else ${n.negated ? `not ${any}` : any} end)`;
      }
      case "glob": {
        const j = field(n.field.path);
        const like = q.param(globToLike(n.pattern));
        return (
          `(case when ${j} is null then null ` +
          `when ${typeOf(j)} = 'array' then exists (select 1 from jsonb_array_elements(${j}) e(v) where jsonb_typeof(e.v) = 'string' and (e.v #>> '{}') like ${like}) ` +
          `when ${typeOf(j)} = 'string' then ${textOf(j)} like ${like} else false end)`
        );
      }
      case "contains": {
        const j = field(n.field.path);
        const v = n.value;
        const inText = typeof v === "string" ? `when ${typeOf(j)} = 'string' then strpos(${textOf(j)}, ${q.param(v)}) > 0 ` : "";
        return (
          `(case when ${j} is null then null ` +
          `when ${typeOf(j)} = 'array' then exists (select 1 from jsonb_array_elements(${j}) e(v) where ${eqValue("e.v", v)}) ` +
          `${inText}else false end)`
        );
      }
    }
  };
  return walk(node);
}
