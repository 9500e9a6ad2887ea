// Parsing of query and body values the way the original (FastAPI/pydantic, Python truthiness) does.
import { HttpError } from "./errors.ts";

/** FastAPI's bool query parsing (`true/false/1/0/yes/no/on/off`); anything else is a 422. */
export function parseBoolQuery(value: string | undefined, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (["true", "1", "yes", "on", "t", "y"].includes(v)) return true;
  if (["false", "0", "no", "off", "f", "n"].includes(v)) return false;
  throw new HttpError(422, [{ type: "bool_parsing", loc: ["query", name], msg: "Input should be a valid boolean", input: value }]);
}

/** Python truthiness of a JSON value (the original reads `payload.get(...)` flags that way). */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
}
