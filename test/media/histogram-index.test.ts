// The histogram offset index kept in the index db: it survives a restart, follows appends, and is rebuilt when the file is replaced or rewritten.
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { appendFileSync, mkdirSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openIndexDb, type IndexDb } from "../../src/index/db.ts";
import { closeSync } from "node:fs";
import {
  dropHistogramIndex,
  HistogramFileError,
  listHistogramKeys,
  listHistogramSlots,
  openHistogramFile,
  readHistogramSlots,
  syncHistogramIndex as syncOpen,
  warmUpHistogramCode,
} from "../../src/index/histogram-index.ts";
import { tempDir } from "../helpers/server.ts";

let tmp: { dir: string; cleanup(): void };
let root: string;
let runDir: string;
let file: string;
let idx: IndexDb;

const line = (key: string, step: number, c = step) =>
  JSON.stringify({ ts: 1, step, key, edges: [0, 1, 2], counts: [c, 1], count: c + 1, sum: 1, min: 0, max: 2 }) + "\n";

beforeEach(async () => {
  tmp = tempDir("rn-hist-index-");
  root = join(tmp.dir, "root");
  runDir = join(root, "runs", "p", "r1");
  mkdirSync(runDir, { recursive: true });
  file = join(runDir, "histograms.jsonl");
  idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
});

afterEach(async () => {
  await idx.close();
  tmp.cleanup();
});

/** What the route does: open the file, bring the index up to date, close; false when there is no file. */
async function syncHistogramIndex(db: IndexDb["db"], rootDir: string, dir: string): Promise<boolean> {
  const fd = openHistogramFile(rootDir, dir);
  if (fd === undefined) {
    await dropHistogramIndex(db, dir);
    return false;
  }
  try {
    await syncOpen(db, dir, fd);
    return true;
  } finally {
    closeSync(fd);
  }
}

async function readSlots(key: string, slots: { step: number; off: number; len: number }[]) {
  const fd = openHistogramFile(root, runDir)!;
  try {
    return await readHistogramSlots(idx.db, runDir, fd, key, slots);
  } finally {
    closeSync(fd);
  }
}

const steps = async (key: string) => (await listHistogramSlots(idx.db, runDir, key, -Infinity, Infinity)).map((s) => s.step);
const fileRow = () => idx.db.selectFrom("histogram_file").selectAll().where("run_dir", "=", runDir).executeTakeFirst();

describe("the stored histogram index", () => {
  it("is kept across a restart: the reopened index lists every key and step before the file is read again", async () => {
    let body = "";
    for (let s = 0; s < 1000; s++) body += line("w", s) + (s % 10 === 0 ? line("b", s) : "");
    writeFileSync(file, body);
    expect(await syncHistogramIndex(idx.db, root, runDir)).toBe(true);
    const before = await fileRow();
    await idx.close();
    idx = await openIndexDb(join(tmp.dir, "index.sqlite"));
    expect(await listHistogramKeys(idx.db, runDir)).toEqual([
      { key: "b", steps: 100, first_step: 0, last_step: 990 },
      { key: "w", steps: 1000, first_step: 0, last_step: 999 },
    ]);
    expect(await syncHistogramIndex(idx.db, root, runDir)).toBe(true);
    expect(await fileRow()).toEqual(before!);
    const slots = await listHistogramSlots(idx.db, runDir, "w", 500, 502);
    const { entries } = await readSlots("w", slots);
    expect(entries.map((e) => [e.step, e.counts[0]])).toEqual([[500, 500], [501, 501], [502, 502]]);
  });

  it("indexes only what was appended, and a torn last line once its newline arrives", async () => {
    writeFileSync(file, line("w", 1) + line("w", 2));
    await syncHistogramIndex(idx.db, root, runDir);
    const first = (await fileRow())!.byte_offset;
    const l3 = line("w", 3);
    appendFileSync(file, l3.slice(0, 20));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("w")).toEqual([1, 2]);
    expect((await fileRow())!.byte_offset).toBe(first);
    appendFileSync(file, l3.slice(20) + line("w", 2, 77));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("w")).toEqual([1, 2, 3]);
    const { entries } = await readSlots("w", await listHistogramSlots(idx.db, runDir, "w", 2, 2));
    expect(entries[0].counts).toEqual([77, 1]); // the step logged again wins
  });

  it("is rebuilt when the file is replaced by another (new inode)", async () => {
    writeFileSync(file, line("w", 1) + line("w", 2) + line("w", 3));
    await syncHistogramIndex(idx.db, root, runDir);
    writeFileSync(file + ".new", line("v", 9) + line("v", 10) + line("w", 7));
    renameSync(file + ".new", file);
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("w")).toEqual([7]);
    expect(await steps("v")).toEqual([9, 10]);
  });

  it("is rebuilt when the file shrank, or was rewritten in place at the same or a larger size", async () => {
    writeFileSync(file, line("w", 1) + line("w", 2) + line("w", 3));
    await syncHistogramIndex(idx.db, root, runDir);
    truncateSync(file, 0);
    appendFileSync(file, line("w", 5));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("w")).toEqual([5]);
    // the same bytes count with other steps: size equal, mtime changed
    const same = line("x", 6);
    writeFileSync(file, same.replace('"x"', '"y"'));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("w")).toEqual([]);
    expect(await steps("y")).toEqual([6]);
    // rewritten in place, then grown: the bytes before the old offset differ, so nothing stale survives
    writeFileSync(file, line("z", 1).replace('"z"', '"q"') + line("z", 2));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("y")).toEqual([]);
    expect(await steps("q")).toEqual([1]);
    expect(await steps("z")).toEqual([2]);
  });

  it("is rebuilt when a line before the end is rewritten at the same size, the last bytes unchanged", async () => {
    writeFileSync(file, line("w", 1) + line("w", 2));
    await syncHistogramIndex(idx.db, root, runDir);
    await Bun.sleep(30); // a later mtime
    writeFileSync(file, line("w", 1).replace('"w"', '"q"') + line("w", 2));
    await syncHistogramIndex(idx.db, root, runDir);
    expect(await steps("q")).toEqual([1]);
    expect(await steps("w")).toEqual([2]);
  });

  it("forgets a run whose file is gone, and refuses a file that is not a regular file", async () => {
    writeFileSync(file, line("w", 1));
    await syncHistogramIndex(idx.db, root, runDir);
    rmSync(file);
    expect(await syncHistogramIndex(idx.db, root, runDir)).toBe(false);
    expect(await steps("w")).toEqual([]);
    expect(await fileRow()).toBeUndefined();
    mkdirSync(file);
    expect(() => openHistogramFile(root, runDir)).toThrow(HistogramFileError);
  });

  it("drops a slot whose line no longer holds that histogram", async () => {
    writeFileSync(file, line("w", 1) + line("w", 2));
    await syncHistogramIndex(idx.db, root, runDir);
    const slots = await listHistogramSlots(idx.db, runDir, "w", -Infinity, Infinity);
    const { entries, dropped } = await readSlots("w", [...slots, { step: 9, off: 0, len: 10 }]);
    expect(entries.map((e) => e.step)).toEqual([1, 2]);
    expect(dropped).toBe(1);
  });
});

describe("the histogram code warm-up", () => {
  it("writes nothing to the index and leaves a run's stored index as it was", async () => {
    writeFileSync(file, line("w", 0) + line("w", 1));
    await syncHistogramIndex(idx.db, root, runDir);
    await warmUpHistogramCode(idx.db);
    expect(await idx.db.selectFrom("histogram_file").select("run_dir").execute()).toEqual([{ run_dir: runDir }]);
    expect((await listHistogramSlots(idx.db, runDir, "w", -Infinity, Infinity)).map((s) => s.step)).toEqual([0, 1]);
    expect(await idx.db.selectFrom("histogram_slot").select("run_dir").where("run_dir", "<>", runDir).execute()).toEqual([]);
  });
});
