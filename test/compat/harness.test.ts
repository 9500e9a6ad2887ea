// The compatibility harness itself: the captures parser and the JSON comparison find what they must find.
import { describe, expect, it } from "bun:test";
import { isPartial, parseCaptures, parsePartialJson, pythonLiteral } from "./capture-file.ts";
import { compareJson, VOLATILE } from "./json-shape.ts";

describe("the captures parser", () => {
  it("reads method, target, body, status, headers, JSON body and notes of a section", () => {
    const [c] = parseCaptures(`# Section 1: x
#### POST /api/runs/soft-delete  body={"run_ids": ["a"]}
status=400 headers={'content-type': 'application/json', 'x-last-step': '3'}
{
 "detail": "Invalid run_id format: a"
}

.deleted marker: {
  "reason": "user_deleted"
}
`);
    expect(c).toMatchObject({ section: 1, line: 2, method: "POST", target: "/api/runs/soft-delete", body: { run_ids: ["a"] }, hasBody: true, status: 400 });
    expect(c.headers).toEqual({ "content-type": "application/json", "x-last-step": "3" });
    expect(c.json).toEqual({ detail: "Invalid run_id format: a" });
    expect(JSON.parse(c.notes[".deleted marker"])).toEqual({ reason: "user_deleted" });
  });

  it("reads the short form of binary answers with their zip entries", () => {
    const [c] = parseCaptures(`#### GET assets/download (manifest)
status=200 ct=application/zip cd=attachment; filename="ds1.zip" entries=['a.csv', 'b.csv']
`);
    expect(c).toMatchObject({ target: "assets/download (manifest)", hasBody: false, contentType: "application/zip", contentDisposition: 'attachment; filename="ds1.zip"', zipEntries: ["a.csv", "b.csv"] });
    expect(c.json).toBeUndefined();
  });

  it("keeps the known prefix of a cut-off body and drops the value cut in the middle", () => {
    const v = parsePartialJson('{"columns": ["a", "b"], "rows": [{"a": 1, "b": "x"}, {"a": 2, "b": 0.00 ') as { columns: string[]; rows: object[] };
    expect(v.columns).toEqual(["a", "b"]);
    expect(isPartial(v.columns)).toBe(false);
    expect(isPartial(v) && isPartial(v.rows)).toBe(true);
    expect(v.rows).toEqual([{ a: 1, b: "x" }, { a: 2 }]);
  });

  it("converts Python reprs with None, True, False and quoted strings", () => {
    expect(pythonLiteral("{'a': None, 'b': True, 'c': [False, 'it\\'s'], \"d\": 1.5}")).toEqual({ a: null, b: true, c: [false, "it's"], d: 1.5 });
  });
});

describe("the JSON comparison", () => {
  it("accepts the same keys in the same order with other times and pids", () => {
    expect(compareJson({ id: "x", pid: 1, created_time: 1.5, tags: [] }, { id: "x", pid: 2, created_time: 9.25, tags: [] }, { volatileKeys: VOLATILE })).toEqual([]);
  });

  it("reports a missing key, an extra key, another key order, a type and a value", () => {
    expect(compareJson({ a: 1, b: 2 }, { a: 1 })).toEqual(["(top): missing keys b"]);
    expect(compareJson({ a: 1 }, { a: 1, z: 0 })).toEqual(["(top): extra keys z"]);
    expect(compareJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toEqual(["(top): key order b,a, original a,b"]);
    expect(compareJson({ v: null }, { v: 0 })).toEqual(["v: type number (0), original null (null)"]);
    expect(compareJson({ detail: "Run not found" }, { detail: "Not Found" })).toEqual(['detail: "Not Found", original "Run not found"']);
    expect(compareJson([1, 2], [1])).toEqual(["(top): 1 items, original 2"]);
  });

  it("allows only the extra keys it is told about, where it is told", () => {
    const opts = { extraKeys: { "runs[]": ["tags"] } };
    expect(compareJson({ runs: [{ id: "a" }] }, { runs: [{ id: "a", tags: [] }] }, opts)).toEqual([]);
    expect(compareJson({ id: "a" }, { id: "a", tags: [] }, opts)).toEqual(["(top): extra keys tags"]);
  });

  it("compares only types when told, and key sets where keys are data", () => {
    expect(compareJson({ cpu: { percent: 52 } }, { cpu: { percent: 3.5 } }, { typesOnly: true })).toEqual([]);
    expect(compareJson({ stats: { b: 1, a: 2 } }, { stats: { a: 2, b: 1 } }, { unorderedKeys: ["stats"] })).toEqual([]);
  });
});
