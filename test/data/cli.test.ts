// The data-management CLI: export → import round trip answered identically by the API, delete, gc, config,
// rate-limit and ls.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { startServer } from "../../src/cli/serve.ts";
import { UsageError } from "../../src/cli/args.ts";
import { runDataCommand } from "../../src/cli/data.ts";
import { createLogger } from "../../src/util/log.ts";
import { copyFixture, isolatedEnv, tempDir } from "../helpers/server.ts";

const tmp = tempDir("rn-cli-");
const env = isolatedEnv(tmp.dir);
const log = createLogger("error");

/** Runs a data command against `root`, collecting its output lines. */
async function cli(name: string, argv: string[], root?: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const config = loadConfig({ root: root ?? join(tmp.dir, "unused"), logLevel: "error" }, env);
  const code = await runDataCommand(name, argv, { config, log, out: (l) => out.push(l), err: (l) => err.push(l), tty: false, ask: () => "y" });
  return { code, out, err };
}

/** A real server on `root`. */
async function serve(root: string): Promise<{ url: string; stop(): Promise<void> }> {
  return startServer(loadConfig({ root, host: "127.0.0.1", port: 0, logLevel: "error", sweepSeconds: 60 }, env));
}

type Served = Awaited<ReturnType<typeof serve>>;

async function get(s: Served, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(s.url + path);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** A run's API answers with the absolute paths of its directory taken out. */
async function runView(s: Served, id: string, root: string) {
  const strip = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(root, "<ROOT>"));
  return {
    detail: strip((await get(s, `/api/runs/${id}`)).body),
    assets: strip((await get(s, `/api/runs/${id}/assets`)).body),
    metrics: (await get(s, `/api/runs/${id}/metrics_step`)).body,
  };
}

const source = copyFixture("rn-probe", join(tmp.dir, "source"));

afterAll(() => tmp.cleanup());

// crash detection rewrites the fixture's dead `running` runs on first serve; settle that before exporting,
// so both roots start from the same files
beforeAll(async () => {
  await (await serve(source)).stop();
});

describe("export and import round trip", () => {
  for (const ext of ["tar.gz", "zip"]) {
    it(`gives an empty root the same runs, as the API shows them (${ext})`, async () => {
      const archive = join(tmp.dir, `all.${ext}`);
      const exp = await cli("export", ["--out", archive, "--json"], source);
      expect(exp.code).toBe(0);
      expect(JSON.parse(exp.out.join("\n"))).toMatchObject({ ok: true, runs: 5 });
      const target = join(tmp.dir, `target-${ext}`);
      const imp = await cli("import", [archive, "--json"], target);
      expect(imp.code).toBe(0);
      const result = JSON.parse(imp.out.join("\n"));
      expect(result.format).toBe("runicorn");
      expect(result.new_run_ids.length).toBe(5);
      const [a, b] = [await serve(source), await serve(target)];
      try {
        const strip = (list: any[]) => list.map(({ run_dir, ...rest }) => rest);
        const la = (await get(a, "/api/runs")).body;
        const lb = (await get(b, "/api/runs")).body;
        expect(strip(lb)).toEqual(strip(la));
        for (const run of la) expect(await runView(b, run.id, target)).toEqual(await runView(a, run.id, source));
        // archive files travelled with the runs: the snapshot blob downloads from the new root
        const code = "e8b2379f3779a1d88bf0277abc094168fe298c00a2de950714a45c1a2da40433";
        expect(existsSync(join(target, "archive", "blobs", "e8", code))).toBe(true);
      } finally {
        await a.stop();
        await b.stop();
      }
      // index rows came along, re-rooted, so deletion accounting works in the new root
      const del = await cli("delete", ["--run-id", "20261129_032935_bfa7ab", "--json"], target);
      expect(JSON.parse(del.out.join("\n")).results[0]).toMatchObject({ success: true, blobs_deleted: 3, manifests_deleted: 1 });
      expect(del.code).toBe(0);
    });
  }

  it("exports only the runs under a path, and says so when nothing matches", async () => {
    const archive = join(tmp.dir, "cv.tar.gz");
    const r = await cli("export", ["--path", "cv", "--out", archive], source);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`Exporting 2 run(s) to ${archive} ...`);
    expect(r.err.at(-1)).toContain("(100%)");
    const none = await cli("export", ["--path", "nope", "--out", join(tmp.dir, "none.zip")], source);
    expect(none.out).toEqual(["No runs matched the given filters. Nothing to export."]);
    expect(existsSync(join(tmp.dir, "none.zip"))).toBe(false);
    await expect(cli("export", ["--out", "x.rar"], source)).rejects.toBeInstanceOf(UsageError);
  });

  it("fails cleanly on a missing or corrupt archive", async () => {
    expect((await cli("import", [join(tmp.dir, "missing.zip")], join(tmp.dir, "t2"))).code).toBe(1);
    const bad = join(tmp.dir, "bad.tar.gz");
    await Bun.write(bad, "garbage");
    const r = await cli("import", [bad], join(tmp.dir, "t2"));
    expect(r.code).toBe(1);
    expect(r.err[0]).toStartWith("Import failed: ");
    await expect(cli("import", [], join(tmp.dir, "t2"))).rejects.toBeInstanceOf(UsageError);
  });
});

describe("delete and gc", () => {
  const root = join(tmp.dir, "del");
  beforeAll(() => {
    copyFixture("rn-data2", root);
  });

  it("previews a deletion without touching anything, then deletes", async () => {
    const dry = await cli("delete", ["--run-id", "20261129_031719_94b4ef", "--dry-run"], root);
    expect(dry.code).toBe(0);
    expect(dry.out.join("\n")).toContain("DRY RUN - No files will be deleted");
    expect(existsSync(join(root, "runs", "cv", "yolo", "20261129_031719_94b4ef"))).toBe(true);
    const real = await cli("delete", ["--run-id", "20261129_031719_94b4ef"], root);
    expect(real.code).toBe(0);
    expect(real.out.join("\n")).toContain("Deleted 1 run(s)");
    expect(existsSync(join(root, "runs", "cv", "yolo", "20261129_031719_94b4ef"))).toBe(false);
  });

  it("exits 1 for an unknown run and 2 (usage) without --run-id", async () => {
    expect((await cli("delete", ["--run-id", "20990101_000000_abcdef"], root)).code).toBe(1);
    await expect(cli("delete", [], root)).rejects.toBeInstanceOf(UsageError);
  });

  it("collects garbage with a JSON report", async () => {
    const r = await cli("gc", ["--dry-run", "--json", "--min-age", "0"], root);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.join("\n"))).toMatchObject({ success: true, dry_run: true, orphaned_blobs: 0 });
    await expect(cli("gc", ["--min-age", "soon"], root)).rejects.toBeInstanceOf(UsageError);
  });
});

describe("config, rate-limit and ls", () => {
  it("sets and shows the user root", async () => {
    const p = join(tmp.dir, "my-root");
    const set = await cli("config", ["--set-user-root", p]);
    expect(set.out[0]).toBe(`Set user_root_dir to: ${p}`);
    expect(existsSync(p)).toBe(true);
    const show = await cli("config", ["--show"]);
    expect(show.out).toContain(`  user_root_dir : ${p}`);
  });

  it("edits rate limits in the user config", async () => {
    expect((await cli("rate-limit", ["--action", "set", "--endpoint", "/api/runs", "--max-requests", "5"])).code).toBe(0);
    expect((await cli("rate-limit", ["--action", "get", "--endpoint", "/api/runs"])).out.join("\n")).toContain("  Max Requests: 5\n  Window: 60s");
    expect((await cli("rate-limit", ["--action", "list"])).out.join("\n")).toContain("  /api/runs: 5/60s");
    expect((await cli("rate-limit", ["--action", "validate"])).out).toEqual(["✓ Configuration is valid"]);
    expect((await cli("rate-limit", ["--action", "remove", "--endpoint", "/api/runs"])).out).toEqual(["✓ Removed rate limit for /api/runs"]);
    expect((await cli("rate-limit", ["--action", "settings", "--enable"])).out.join("\n")).toContain("  Rate Limiting: Enabled");
    expect((await cli("rate-limit", ["--action", "reset"])).out).toEqual(["✓ Reset to default configuration"]);
    await expect(cli("rate-limit", ["--action", "set", "--endpoint", "/x", "--max-requests", "-1"])).rejects.toBeInstanceOf(UsageError);
    await expect(cli("rate-limit", ["--action", "explode"])).rejects.toBeInstanceOf(UsageError);
  });

  it("lists runs as a table, by path, and as JSON", async () => {
    const all = await cli("ls", [], source);
    expect(all.out[0]).toMatch(/^ID\s+PATH\s+STATUS\s+ALIAS\s+CREATED\s+BEST$/);
    expect(all.out.length).toBe(6);
    const cv = await cli("ls", ["cv/yolo", "--json"], source);
    expect(JSON.parse(cv.out.join("\n")).map((r: any) => r.id)).toEqual(["20261129_032935_bfa7ab"]);
    const withDeleted = await cli("ls", ["cv/yolo", "--all", "--json"], source);
    expect(JSON.parse(withDeleted.out.join("\n")).length).toBe(2);
    await expect(cli("ls", ["--bogus"], source)).rejects.toBeInstanceOf(UsageError);
  });
});
