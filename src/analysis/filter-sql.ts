// Compiles a parsed filter (filter.ts) to a SQLite boolean expression with exactly the semantics of
// `evaluateFilter`: a missing field is unknown (SQL NULL), `== null` matches missing and JSON null,
// values of different JSON types are never equal and never ordered, booleans are not numbers.
// Where a field lives (a column, a JSON path in a column) is the caller's mapping.
import { type RawBuilder, sql } from "kysely";
import type { FilterNode, FilterValue } from "./filter.ts";

/**
 * How one field reads in SQL. `value` is its SQL value (NULL when missing); `type` is its JSON type
 * as SQLite's json_type() names it ('null', 'true', 'false', 'integer', 'real', 'text', 'array',
 * 'object'), NULL when missing. Plain columns pass a constant type.
 */
export interface FieldSql {
  value: RawBuilder<unknown>;
  type: RawBuilder<unknown>;
  /** When the field may hold an array (tags, a JSON value): its JSON text, for `contains` and `~`. */
  jsonArray?: RawBuilder<unknown>;
  /**
   * Set for a plain column of one scalar type, never missing (NULL reads as JSON null): comparisons then
   * skip the type tests (the same result, without evaluating the value three times per row).
   */
  column?: "text" | "real";
}

/** Maps a field path to SQL, or undefined when the field is unknown (it then reads as missing). */
export type FieldMapper = (path: string[]) => FieldSql | undefined;

const MISSING: FieldSql = { value: sql`NULL`, type: sql`NULL` };

function literalType(v: FilterValue): "null" | "bool" | "number" | "text" {
  if (v === null) return "null";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return "number";
  return "text";
}

/** Does the field's JSON type match the literal's type? (SQL boolean) */
function sameType(f: FieldSql, v: FilterValue): RawBuilder<unknown> {
  switch (literalType(v)) {
    case "bool":
      return sql`(${f.type} IN ('true', 'false'))`;
    case "number":
      return sql`(${f.type} IN ('integer', 'real'))`;
    case "text":
      return sql`(${f.type} = 'text')`;
    default:
      return sql`(${f.type} = 'null')`;
  }
}

/** The literal as SQL, booleans as json_type names compared against the field's type. */
function eqValue(f: FieldSql, v: FilterValue): RawBuilder<unknown> {
  if (typeof v === "boolean") return sql`(${f.type} = ${v ? "true" : "false"})`;
  return sql`(${sameType(f, v)} AND ${f.value} = ${v})`;
}

/** Compiles `node`; every field goes through `map`. Unknown fields are reported to `onUnknown`. */
export function compileFilter(node: FilterNode, map: FieldMapper, onUnknown?: (path: string[]) => void): RawBuilder<unknown> {
  const field = (path: string[]): FieldSql => {
    const f = map(path);
    if (!f) {
      onUnknown?.(path);
      return MISSING;
    }
    return f;
  };
  const walk = (n: FilterNode): RawBuilder<unknown> => {
    switch (n.kind) {
      case "and":
        return sql`(${sql.join(n.items.map(walk), sql` AND `)})`;
      case "or":
        return sql`(${sql.join(n.items.map(walk), sql` OR `)})`;
      case "not":
        return sql`(NOT ${walk(n.item)})`;
      case "cmp": {
        const f = field(n.field.path);
        const v = n.value;
        if (v === null) {
          if (n.op === "==") return sql`(${f.type} IS NULL OR ${f.type} = 'null')`;
          if (n.op === "!=") return sql`(${f.type} IS NOT NULL AND ${f.type} <> 'null')`;
          return sql`NULL`; // ordering against null is meaningless: unknown
        }
        if (f.column && typeof v !== "boolean") {
          const same = f.column === (typeof v === "number" ? "real" : "text");
          const op = sql.raw(n.op === "==" ? "=" : n.op === "!=" ? "<>" : n.op);
          // null is never equal to a value: == is false, != true; ordering a null is unknown
          if (n.op === "==" || n.op === "!=") return same ? sql`coalesce(${f.value} ${op} ${v}, ${n.op === "==" ? sql`0` : sql`1`})` : n.op === "==" ? sql`0` : sql`1`;
          return same ? sql`(${f.value} ${op} ${v})` : sql`(CASE WHEN ${f.value} IS NULL THEN NULL ELSE 0 END)`;
        }
        const missing = sql`${f.type} IS NULL`;
        const isNull = sql`${f.type} = 'null'`;
        // numbers and strings: a simple CASE reads the field's type once per row (the JSON lookup is the cost)
        const types = typeof v === "number" ? sql`'integer', 'real'` : sql`'text'`;
        if (n.op === "==" || n.op === "!=") {
          const ne = n.op === "==" ? sql`0` : sql`1`;
          if (typeof v !== "boolean") {
            // the value first (one JSON lookup for a row that differs); the type only for an equal value (a
            // boolean extracts as 0/1) or none (missing is unknown, JSON null differs)
            const eq = sql`(CASE WHEN ${f.value} <> ${v} THEN 0 WHEN ${f.type} IN (${types}) THEN 1 WHEN ${missing} THEN NULL ELSE 0 END)`;
            return n.op === "==" ? eq : sql`(NOT ${eq})`;
          }
          const eq = eqValue(f, v);
          // JSON null compared with a value: definitely not equal (the evaluator's a !== b)
          return sql`(CASE WHEN ${missing} THEN NULL WHEN ${isNull} THEN ${ne} ELSE ${n.op === "==" ? eq : sql`NOT ${eq}`} END)`;
        }
        if (typeof v === "boolean") return sql`(CASE WHEN ${missing} OR ${isNull} THEN NULL ELSE 0 END)`;
        // the comparison itself first: NULL (missing or JSON null: unknown) matches no WHEN, false needs no type;
        // only a true one reads the type (a boolean extracts as 0/1, a text sorts after every number)
        const op = sql.raw(n.op);
        return sql`(CASE (${f.value} ${op} ${v}) WHEN 0 THEN 0 WHEN 1 THEN ${f.type} IN (${types}) END)`;
      }
      case "in": {
        const f = field(n.field.path);
        // numbers and strings each as one SQL IN list: one type test per group, not per value
        const nums = n.values.filter((v): v is number => typeof v === "number");
        const strs = n.values.filter((v): v is string => typeof v === "string");
        if (n.values.length && (nums.length === n.values.length || strs.length === n.values.length)) {
          // one type of literal: test the value first, so most rows cost one JSON lookup; the type is read
          // only for a value in the list (a boolean extracts as 0/1) or none (missing vs JSON null)
          const list = nums.length ? sql.join(nums) : sql.join(strs);
          const types = nums.length ? sql`'integer', 'real'` : sql`'text'`;
          const any = sql`(CASE WHEN ${f.value} NOT IN (${list}) THEN 0 WHEN ${f.type} IN (${types}) THEN 1 WHEN ${f.type} IS NULL THEN NULL ELSE 0 END)`;
          return n.negated ? sql`(NOT ${any})` : any;
        }
        const hits = n.values
          .filter((v) => v === null || typeof v === "boolean")
          .map((v) => (v === null ? sql`(${f.type} = 'null')` : eqValue(f, v)));
        if (nums.length) hits.push(sql`(${f.type} IN ('integer', 'real') AND ${f.value} IN (${sql.join(nums)}))`);
        if (strs.length) hits.push(sql`(${f.type} = 'text' AND ${f.value} IN (${sql.join(strs)}))`);
        const any = hits.length ? sql`(${sql.join(hits, sql` OR `)})` : sql`0`;
        return sql`(CASE WHEN ${f.type} IS NULL THEN NULL ELSE ${n.negated ? sql`NOT ${any}` : any} END)`;
      }
      case "glob": {
        const f = field(n.field.path);
        const glob = globToGlob(n.pattern);
        const inArray = f.jsonArray
          ? sql`WHEN ${f.type} = 'array' THEN EXISTS (SELECT 1 FROM json_each(${f.jsonArray}) e WHERE e.type = 'text' AND e.value GLOB ${glob})`
          : sql``;
        return sql`(CASE WHEN ${f.type} IS NULL THEN NULL ${inArray} WHEN ${f.type} = 'text' THEN ${f.value} GLOB ${glob} ELSE 0 END)`;
      }
      case "contains": {
        const f = field(n.field.path);
        const v = n.value;
        let inArray = sql``;
        if (f.jsonArray) {
          const match =
            v === null
              ? sql`e.type = 'null'`
              : typeof v === "boolean"
                ? sql`e.type = ${v ? "true" : "false"}`
                : typeof v === "number"
                  ? sql`(e.type IN ('integer', 'real') AND e.value = ${v})`
                  : sql`(e.type = 'text' AND e.value = ${v})`;
          inArray = sql`WHEN ${f.type} = 'array' THEN EXISTS (SELECT 1 FROM json_each(${f.jsonArray}) e WHERE ${match})`;
        }
        const inText = typeof v === "string" ? sql`WHEN ${f.type} = 'text' THEN instr(${f.value}, ${v}) > 0` : sql``;
        return sql`(CASE WHEN ${f.type} IS NULL THEN NULL ${inArray} ${inText} ELSE 0 END)`;
      }
    }
  };
  return walk(node);
}

/** SQLite GLOB (case-sensitive, `*` and `?`) with `[` escaped, so only `*`/`?` are special. */
function globToGlob(glob: string): string {
  return glob.replace(/\[/g, "[[]");
}

/**
 * The mapping for a JSON object column: `prefix.a.b` → json_extract(column, '$."a"."b"').
 * Keys are quoted, so dots and spaces inside backticked names work.
 */
export function jsonField(column: RawBuilder<unknown>, keys: string[]): FieldSql {
  const path = "$" + keys.map((k) => "." + JSON.stringify(k)).join("");
  const value = sql`json_extract(${column}, ${path})`;
  return { value, type: sql`json_type(${column}, ${path})`, jsonArray: value };
}
