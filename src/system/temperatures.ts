// Temperature sensors from /sys/class/hwmon (thermal zones when hwmon has none), as psutil `sensors_temperatures()` reads them.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One sensor reading in °C; `high`/`critical` are null when the chip does not say. */
export interface TemperatureEntry {
  label: string;
  current: number;
  high: number | null;
  critical: number | null;
}

/** `GET /api/system/temperatures` (spec §3.9). */
export type Temperatures =
  | { available: true; sensors: Record<string, TemperatureEntry[]> }
  | { available: false; reason: string };

/** The original's reason when nothing is found (spec §3.9, exact [verified]). */
export const NO_SENSORS = "Temperature sensors not available";

function cat(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined; // attribute not provided by this driver
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // no such class on this kernel/platform
  }
}

function milli(path: string): number | null {
  const v = cat(path);
  if (v === undefined || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n / 1000 : null;
}

/** Reads every temperature sensor below `sysRoot` (normally "/sys"), grouped by chip name. */
export function readTemperatures(sysRoot: string): Temperatures {
  const raw = new Map<string, [string, number, number | null, number | null][]>();
  const add = (name: string, entry: [string, number, number | null, number | null]) => {
    const l = raw.get(name);
    if (l) l.push(entry);
    else raw.set(name, [entry]);
  };

  const hwmon = join(sysRoot, "class/hwmon");
  const bases = new Set<string>();
  for (const h of list(hwmon)) {
    for (const dir of [join(hwmon, h), join(hwmon, h, "device")]) {
      for (const f of list(dir)) {
        const m = /^(temp\d+)_/.exec(f);
        if (m) bases.add(join(dir, m[1]));
      }
    }
  }
  const sorted = [...bases].sort();
  for (const base of sorted) {
    const current = milli(`${base}_input`);
    const chip = cat(join(base, "..", "name"));
    if (current === null || chip === undefined) continue;
    add(chip, [cat(`${base}_label`) ?? "", current, milli(`${base}_max`), milli(`${base}_crit`)]);
  }

  if (sorted.length === 0) {
    const thermal = join(sysRoot, "class/thermal");
    for (const zone of list(thermal).filter((z) => z.startsWith("thermal_zone")).sort()) {
      const dir = join(thermal, zone);
      const current = milli(join(dir, "temp"));
      const type = cat(join(dir, "type"));
      if (current === null || type === undefined) continue;
      let high: number | null = null;
      let critical: number | null = null;
      const trips = new Set(
        list(dir)
          .filter((f) => f.startsWith("trip_point_"))
          .map((f) => f.split("_").slice(0, 3).join("_")),
      );
      for (const trip of trips) {
        const kind = cat(join(dir, `${trip}_type`));
        if (kind === "critical") critical = milli(join(dir, `${trip}_temp`));
        else if (kind === "high") high = milli(join(dir, `${trip}_temp`));
      }
      add(type, ["", current, high, critical]);
    }
  }

  if (raw.size === 0) return { available: false, reason: NO_SENSORS };
  const sensors: Record<string, TemperatureEntry[]> = {};
  for (const [name, entries] of raw) {
    sensors[name] = entries.map(([label, current, high, critical]) => {
      // psutil fills a missing high from critical and vice versa
      if (high && !critical) critical = high;
      else if (critical && !high) high = critical;
      return { label: label || name, current, high, critical };
    });
  }
  return { available: true, sensors };
}
