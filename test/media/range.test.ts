// Byte ranges on every file download (audio, media images, asset downloads): 206 with Content-Range, 416 on a bad range, through one helper.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.ts";
import { Audio, init, type Run } from "../../src/sdk/runicorn.ts";
import { parseRange } from "../../src/api/file-response.ts";
import { HttpError } from "../../src/api/errors.ts";

const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6e40000000049454e44ae426082",
  "hex",
);
let srv: TestServer;
const urls: Record<string, string> = {};
const whole: Record<string, Buffer> = {};

beforeAll(async () => {
  srv = await startTestServer();
  const run = init({ storage: srv.root, path: "range", runId: "range-1", systemMetrics: false, handleSignals: false }) as Run;
  const samples = new Int16Array(48_000 * 3); // three seconds: a file worth seeking in
  for (let i = 0; i < samples.length; i++) samples[i] = (i * 37) % 65536 - 32768;
  run.log({ clip: new Audio(samples, { sampleRate: 48_000 }) }, { step: 1 });
  const img = run.logImage("pic", PNG, { step: 1 });
  const blob = Buffer.alloc(70_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7) & 255;
  writeFileSync(join(run.runDir, "weights.bin"), blob);
  run.finish();
  await waitFor(async () => (await srv.api("/api/runs/range-1")).status === 200, 15000, "the run in the index");
  const audio = (await srv.api("/api/runs/range-1/audio")).body.audio;
  urls.audio = audio[0].url;
  urls.image = `/api/runs/range-1/media/${img.slice("media/".length)}`;
  urls.download = `/api/runs/range-1/assets/download?path=${encodeURIComponent("runs/range/range-1/weights.bin")}`;
  for (const [k, u] of Object.entries(urls)) {
    const r = await fetch(srv.url + u);
    expect(r.status).toBe(200);
    expect(r.headers.get("accept-ranges")).toBe("bytes");
    whole[k] = Buffer.from(await r.arrayBuffer());
    // Bun sends a long streamed body chunked, without Content-Length; when it is sent it must be the size
    const len = r.headers.get("content-length");
    if (len !== null) expect(Number(len)).toBe(whole[k].length);
  }
}, 60000);

afterAll(async () => {
  await srv?.close();
});

const get = (u: string, headers: Record<string, string>) => fetch(srv.url + u, { headers });

describe("a file download with a Range header", () => {
  for (const kind of ["audio", "image", "download"]) {
    it(`answers 206 with exactly the bytes asked for (${kind})`, async () => {
      const full = whole[kind];
      const size = full.length;
      const cases: [string, number, number][] = [
        ["bytes=0-0", 0, 1],
        ["bytes=10-49", 10, 50],
        [`bytes=${size - 5}-`, size - 5, size],
        ["bytes=-7", size - 7, size],
        [`bytes=3-${size + 1000}`, 3, size],
      ];
      for (const [h, from, to] of cases) {
        const r = await get(urls[kind], { range: h });
        expect(r.status).toBe(206);
        expect(r.headers.get("content-range")).toBe(`bytes ${from}-${to - 1}/${size}`);
        const len = r.headers.get("content-length");
        if (len !== null) expect(len).toBe(String(to - from));
        expect(r.headers.get("accept-ranges")).toBe("bytes");
        expect(Buffer.from(await r.arrayBuffer()).equals(full.subarray(from, to))).toBe(true);
      }
    });
  }

  it("keeps the content type of the route on a partial answer", async () => {
    const a = await get(urls.audio, { range: "bytes=44-99" });
    expect(a.headers.get("content-type")).toBe("audio/wav");
    const i = await get(urls.image, { range: "bytes=0-3" });
    expect(i.headers.get("content-type")).toBe("image/png");
    await a.arrayBuffer();
    await i.arrayBuffer();
  });

  it("lets an audio element seek: a range deep in a three-second WAV reads the samples there", async () => {
    const at = 44 + 2 * 100_000;
    const r = await get(urls.audio, { range: `bytes=${at}-${at + 3}` });
    const b = Buffer.from(await r.arrayBuffer());
    expect([b.readInt16LE(0), b.readInt16LE(2)]).toEqual([((100_000 * 37) % 65536) - 32768, ((100_001 * 37) % 65536) - 32768]);
  });

  it("answers 416 with the size in Content-Range and a JSON detail for a range past the end or a malformed one", async () => {
    for (const kind of ["audio", "image", "download"]) {
      const size = whole[kind].length;
      for (const h of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, "bytes=-0", "bytes=9-3", "bytes=abc", "bytes=-", "nonsense"]) {
        const r = await get(urls[kind], { range: h });
        expect(r.status).toBe(416);
        expect(r.headers.get("content-range")).toBe(`bytes */${size}`);
        expect(typeof (await r.json()).detail).toBe("string");
      }
    }
  });

  it("sends the whole file for another unit, several ranges, or an If-Range naming another version", async () => {
    const size = whole.download.length;
    for (const headers of <Record<string, string>[]>[{ range: "items=0-5" }, { range: "bytes=0-1, 5-9" }, { range: "bytes=0-9", "if-range": '"other"' }]) {
      const r = await get(urls.download, headers);
      expect(r.status).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).length).toBe(size);
    }
    const etag = (await get(urls.download, {})).headers.get("etag")!;
    const r = await get(urls.download, { range: "bytes=0-9", "if-range": etag });
    expect(r.status).toBe(206);
    expect(Buffer.from(await r.arrayBuffer()).equals(whole.download.subarray(0, 10))).toBe(true);
  });

  it("still refuses paths outside media/ before any range is read", async () => {
    const r = await get("/api/runs/range-1/audio/..%2Fmeta.wav", { range: "bytes=0-1" });
    expect(r.status).toBe(404);
  });
});

describe("parseRange", () => {
  it("reads single byte ranges and ignores what a server may ignore", () => {
    expect(parseRange(null, 100)).toBeUndefined();
    expect(parseRange("bytes=0-99", 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange("bytes=-500", 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange("Bytes = 5 - 6", 100)).toEqual({ start: 5, end: 7 });
    expect(parseRange("bytes=1-2,4-5", 100)).toBeUndefined();
    expect(parseRange("lines=1-2", 100)).toBeUndefined();
  });

  it("throws a 416 HttpError carrying Content-Range for an empty file", () => {
    let err: unknown;
    try {
      parseRange("bytes=0-", 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(416);
    expect((err as HttpError).headers["content-range"]).toBe("bytes */0");
  });
});
