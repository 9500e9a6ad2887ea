// The importers' small pure parts: CRC-32C, TFRecord framing, float32 printing, MLflow's meta.yaml.
import { describe, expect, it } from "bun:test";
import { parseFlatYaml } from "../../src/importers/mlflow.ts";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatValue, ImportedRun, safePath } from "../../src/importers/run-writer.ts";
import { parseEventFileName } from "../../src/importers/tensorboard.ts";
import { crc32c, frameRecord, readRecords, RecordError } from "../../src/importers/tfrecord.ts";

describe("CRC-32C and TFRecord framing", () => {
  it("matches the standard check value and every length's bytewise result", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    const bytes = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff);
    const slow = (b: Uint8Array) => {
      let c = 0xffffffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    for (let n = 0; n < 40; n++) expect(crc32c(bytes, 3, 3 + n)).toBe(slow(bytes.subarray(3, 3 + n)));
  });

  it("reads whole records, leaves a torn tail for later and names a corrupt record's offset", () => {
    const a = frameRecord(new Uint8Array([1, 2, 3]));
    const b = frameRecord(new Uint8Array([4, 5]));
    const file = new Uint8Array([...a, ...b.subarray(0, b.length - 2)]);
    const seen: number[][] = [];
    const next = readRecords(file, 0, (buf, s, e) => seen.push([...buf.subarray(s, e)]));
    expect(seen).toEqual([[1, 2, 3]]);
    expect(next).toBe(a.length);
    const bad = new Uint8Array([...a, ...b]);
    bad[a.length + 13] ^= 1;
    expect(() => readRecords(bad, 0, () => {})).toThrow(RecordError);
    expect(() => readRecords(bad, 0, () => {})).toThrow(`at byte ${a.length}`);
  });
});

describe("numbers as the SDK writes them", () => {
  it("prints every float32 with digits that read back as the same float32", () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let x = 12345;
    for (let i = 0; i < 200_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      u[0] = x;
      const v = f[0];
      const text = formatValue(v, true);
      if (v !== v) expect(text).toBe("NaN");
      else if (!Number.isFinite(v)) expect(text).toBe(v > 0 ? "Infinity" : "-Infinity");
      else {
        expect(Math.fround(Number(text))).toBe(v);
        expect(text.length).toBeLessThanOrEqual(Number.isInteger(v) ? 48 : 16);
      }
    }
  });

  it("uses Python's float notation", () => {
    expect(formatValue(Math.fround(0.1), true)).toBe("0.1");
    expect(formatValue(2, true)).toBe("2.0");
    expect(formatValue(Math.fround(1e-5), true)).toBe("1e-05");
    expect(formatValue(Math.fround(-0.00025), true)).toBe("-0.00025");
    expect(formatValue(0.1 + 0.2, false)).toBe("0.30000000000000004");
  });
});

describe("rows written as bytes", () => {
  it("print every value exactly as formatValue does", () => {
    const root = mkdtempSync(join(tmpdir(), "rn-rows-"));
    try {
      const run = ImportedRun.open(root, { path: "t", createdAt: 1700000000, alias: null, hostname: "", pid: null, source: { kind: "tensorboard", dir: "/nowhere" } });
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      let x = 99;
      const want: string[] = [];
      for (let i = 0; i < 20000; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        u[0] = x;
        const v = i % 7 === 0 ? (x / 7) * (i % 2 ? -1 : 1) : f[0]; // some doubles too
        const f32 = i % 7 !== 0;
        run.addRow(1700000000 + i / 8, i, ["k/é"], [v], [f32]);
        want.push(formatValue(v, f32));
      }
      run.commit();
      const lines = readFileSync(join(run.dir, "events.jsonl"), "utf8").trim().split("\n");
      expect(lines.length).toBe(want.length);
      for (let i = 0; i < lines.length; i++) {
        const m = /"k\/é": ([^,]+), "global_step": (\d+)/.exec(lines[i]);
        expect(m?.[1]).toBe(want[i]);
        expect(Number(m?.[2])).toBe(i);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("names", () => {
  it("reads start time, host and pid from event file names", () => {
    expect(parseEventFileName("events.out.tfevents.1700000000.gpu1.example.org.4242.0")).toEqual({ time: 1700000000, host: "gpu1.example.org", pid: 4242 });
    expect(parseEventFileName("events.out.tfevents.1700000000.5.box")).toEqual({ time: 1700000000.5, host: "box", pid: null });
  });

  it("makes Runicorn paths from any folder names", () => {
    expect(safePath(["runs", "lr=0.001 bs=64", "../x", "./y"])).toBe("runs/lr_0_001_bs_64/x/y");
    expect(safePath(["实验"])).toBe("run");
  });

  it("reads MLflow's meta.yaml scalars", () => {
    const y = parseFlatYaml("name: 'it''s'\nexperiment_id: '1'\nstatus: 3\nstart_time: 1700000000000\ntags: []\nrun_name: \"a b\"\nnested:\n  x: 1\nend_time: null\n");
    expect(y).toEqual({ name: "it's", experiment_id: "1", status: 3, start_time: 1700000000000, run_name: "a b", nested: null, end_time: null });
  });
});
