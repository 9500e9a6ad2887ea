// A host whose connection hangs (no close, no answer) is marked offline by its probe and never delays the others.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { tempDir, waitFor } from "../helpers/server.ts";
import { startFleetServer, Viewer, writeRun } from "./helpers.ts";

/** A TCP relay to `port` that can freeze: while frozen, bytes in either direction are held back (a dropped tunnel). */
function freezableRelay(port: number) {
  let frozen = false;
  const pairs = new Set<{ client: Socket<unknown>; upstream?: Socket<unknown>; pending: Uint8Array[] }>();
  const server: TCPSocketListener<{ pair: { client: Socket<unknown>; upstream?: Socket<unknown>; pending: Uint8Array[] } }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pair = { client: client as Socket<unknown>, upstream: undefined as Socket<unknown> | undefined, pending: [] as Uint8Array[] };
        client.data = { pair };
        pairs.add(pair);
        void Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(up) {
              pair.upstream = up as Socket<unknown>;
              for (const chunk of pair.pending.splice(0)) up.write(chunk);
            },
            data(_up, chunk) {
              if (!frozen) client.write(chunk);
            },
            close() {
              if (!frozen) client.end();
            },
          },
        });
      },
      data(client, chunk) {
        if (frozen) return;
        const { pair } = client.data;
        if (pair.upstream) pair.upstream.write(chunk);
        else pair.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.pair.upstream?.end();
        pairs.delete(client.data.pair);
      },
    },
  });
  return {
    port: server.port,
    freeze: () => (frozen = true),
    stop: () => {
      for (const p of pairs) {
        p.client.end();
        p.upstream?.end();
      }
      server.stop(true);
    },
  };
}

let tmp: ReturnType<typeof tempDir>;
let good: Viewer;
let flaky: Viewer;
let relay: ReturnType<typeof freezableRelay>;
let fleet: Awaited<ReturnType<typeof startFleetServer>>;

beforeAll(async () => {
  tmp = tempDir("rn-fleet-hang-");
  const g = join(tmp.dir, "g");
  writeRun(g, "p", "20250101_000001_aaaaa1");
  const f = join(tmp.dir, "f");
  writeRun(f, "p", "20250101_000002_aaaaa2");
  good = await new Viewer(g, join(tmp.dir, "genv")).start();
  flaky = await new Viewer(f, join(tmp.dir, "fenv")).start();
  relay = freezableRelay(flaky.port);
  fleet = await startFleetServer([
    { label: "good", baseUrl: good.url },
    { label: "flaky", baseUrl: `http://127.0.0.1:${relay.port}` },
  ]);
  await waitFor(() => fleet.fleet.hosts.every((h) => h.online), 15000, "both hosts online");
});

afterAll(async () => {
  await fleet?.server.stop();
  relay?.stop();
  await Promise.all([good?.stop(), flaky?.stop()]);
  tmp?.cleanup();
});

describe("a hanging host", () => {
  it("is marked offline with a timeout reason within 5 s while the other host keeps answering", async () => {
    expect((await fleet.api("/api/runs")).body.length).toBe(2);
    relay.freeze();
    const t0 = Date.now();
    // a request already on its way to the host ends when the host is found offline, not at its own 15 s limit
    const inFlight = fleet.api("/api/runs/20250101_000002_aaaaa2/metrics_step");
    await waitFor(async () => (await fleet.api("/api/runs")).body.length === 1, 5000, "flaky host out of the list");
    expect(Date.now() - t0).toBeLessThan(5000);
    const f = (await fleet.api("/api/fleet")).body.hosts.find((h: { host: string }) => h.host === "flaky");
    expect(["offline", "reconnecting"]).toContain(f.state);
    expect(f.reason).toContain("no answer within");
    const r = await fleet.api("/api/runs");
    expect(r.body.map((x: { host: string }) => x.host)).toEqual(["good"]);
    expect((await fleet.api("/api/runs/20250101_000001_aaaaa1")).status).toBe(200);
    const gone = await fleet.api("/api/runs/20250101_000002_aaaaa2");
    expect(gone.status).toBe(503);
    expect(gone.body.detail).toContain("flaky");
    const early = await inFlight;
    expect([502, 503]).toContain(early.status);
    expect(early.body.detail).toContain("flaky");
    expect(Date.now() - t0).toBeLessThan(10000);
  });
});
