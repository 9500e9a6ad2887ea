// System endpoints (spec §3.9): GPU telemetry and history, host monitor, temperatures, storage statistics — all answered from background samplers.
import { Elysia, t } from "elysia";
import type { AppContext } from "./context.ts";

/** Routes of the system feature, answered from the samplers the server started (`ctx.system`). */
export function systemRoutes(ctx: Pick<AppContext, "system" | "root">) {
  const samplers = () => ctx.system;
  return new Elysia({ name: "system" })
    .get("/api/gpu/telemetry", () => samplers().gpu.telemetry(), {
      detail: {
        tags: ["system"],
        summary: "Latest GPU sample",
        description:
          "Per-GPU utilisation, memory, temperature, power and clocks (nvidia-smi or NVML), plus `processes` using GPU memory. " +
          '`{"available": false, "reason": …}` without a GPU or when the driver fails.',
      },
    })
    .get("/api/gpu/history", ({ query }) => samplers().gpu.historySince(query.since ?? 0), {
      query: t.Object({
        since: t.Optional(
          t.Numeric({ minimum: 0, description: "Only samples newer than this epoch time (seconds), for polling." }),
        ),
      }),
      detail: {
        tags: ["system"],
        summary: "GPU samples of the last 10 minutes, as columns",
        description: "`ts` and, per GPU, one array per field aligned with `ts` (`null` where unknown).",
      },
    })
    .get("/api/system/monitor", () => samplers().host.monitor(), {
      detail: {
        tags: ["system"],
        summary: "Latest host sample",
        description: "CPU (overall, per core, frequency, load), memory and swap, the storage root's disk and I/O, platform.",
      },
    })
    .get("/api/system/temperatures", () => samplers().host.temperatures(), {
      detail: { tags: ["system"], summary: "Temperature sensors (hwmon / thermal zones)" },
    })
    .get("/api/storage/stats", () => samplers().storage.get(ctx.root()), {
      detail: {
        tags: ["system"],
        summary: "Disk use of the storage root",
        description: "Archive, runs (v0.6 and legacy layouts) and index sizes; cached for a few seconds.",
      },
    });
}
