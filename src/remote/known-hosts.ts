// OpenSSH known_hosts: key parsing, SHA256 fingerprints, host-key checks (hashed entries too) and our CFG/known_hosts store (spec §5.3).
import { createHash, createHmac } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { dirname } from "node:path";
import { writeSecretFile } from "../config/secret-file.ts";

/** A public key as `<type> <base64>`, with its decoded blob. */
export interface ParsedPublicKey {
  keyType: string;
  keyBase64: string;
  blob: Buffer;
}

/** An expected failure of a known_hosts operation; `message` is shown to the user as is. */
export class KnownHostsError extends Error {}

/** Parses `<type> <base64> [comment]`; base64 must be strict (padding may be missing). */
export function parsePublicKey(text: string): ParsedPublicKey {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || !parts[0]) throw new KnownHostsError("Invalid public key format");
  const [keyType, keyBase64] = parts as [string, string];
  const padded = keyBase64 + "=".repeat((4 - (keyBase64.length % 4)) % 4);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(padded) || padded.length % 4 !== 0) {
    throw new KnownHostsError("Invalid base64 public key");
  }
  const blob = Buffer.from(padded, "base64");
  if (blob.length === 0) throw new KnownHostsError("Invalid base64 public key");
  return { keyType, keyBase64, blob };
}

/** The OpenSSH `SHA256:` fingerprint of a key blob (unpadded standard base64). */
export function fingerprintSha256(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** The key type written inside an SSH public key blob (its first string). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return "";
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString("latin1");
}

const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * True for a host we may write into a known_hosts file: a plain DNS name (letters, digits, `-`, `_`,
 * dot-separated labels) or an IPv4/IPv6 address (IPv6 optionally in brackets). Patterns (`*`, `?`,
 * `!`), lists (`,`), whitespace, brackets with a port, hashed `|1|` names and everything else are
 * refused: such a line would trust the key for other hosts too.
 */
export function isPlainHost(host: string): boolean {
  if (isIPv4(host) || isIPv6(host)) return true;
  if (host.startsWith("[") && host.endsWith("]")) return isIPv6(host.slice(1, -1));
  if (host.length === 0 || host.length > 253) return false;
  return host.split(".").every((label) => HOST_LABEL.test(label));
}

/** The host as it is written into known_hosts: bracketed IPv6 loses its brackets (knownHostsHost adds them). */
export function plainHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The host field OpenSSH writes: `host` for port 22, else `[host]:port`. */
export function knownHostsHost(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Splits a host field back into host and port (22 when absent). */
export function parseKnownHostsHost(field: string): { host: string; port: number } {
  const m = /^\[([^\]]*)\](?::(\d+))?$/.exec(field);
  if (m) return { host: m[1]!, port: m[2] ? Number(m[2]) : 22 };
  return { host: field, port: 22 };
}

/** One line of a known_hosts file. */
interface Entry {
  marker: "" | "@revoked" | "@cert-authority";
  hosts: string[];
  keyType: string;
  keyBase64: string;
  comment: string;
}

function parseLine(line: string): Entry | undefined {
  const s = line.trim();
  if (!s || s.startsWith("#")) return undefined;
  const parts = s.split(/\s+/);
  let marker: Entry["marker"] = "";
  if (parts[0] === "@revoked" || parts[0] === "@cert-authority") marker = parts.shift() as Entry["marker"];
  if (parts.length < 3) return undefined;
  return {
    marker,
    hosts: parts[0]!.split(","),
    keyType: parts[1]!,
    keyBase64: parts[2]!,
    comment: parts.slice(3).join(" "),
  };
}

function formatLine(e: Entry): string {
  const head = e.marker ? `${e.marker} ` : "";
  return `${head}${e.hosts.join(",")} ${e.keyType} ${e.keyBase64}${e.comment ? ` ${e.comment}` : ""}`;
}

/** OpenSSH glob: `*` any run, `?` one char. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
    "i",
  );
  return re.test(text);
}

/** Does one host pattern (plain, glob, hashed `|1|salt|hash`) match the looked-up name? */
function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  return globMatch(pattern, name);
}

/** Does an entry's host list match `name` (negations `!pat` veto a match)? */
function hostsMatch(hosts: string[], name: string): boolean {
  let matched = false;
  for (const h of hosts) {
    if (h.startsWith("!")) {
      if (patternMatches(h.slice(1), name)) return false;
    } else if (patternMatches(h, name)) matched = true;
  }
  return matched;
}

/** Outcome of checking a presented host key. */
export type HostKeyCheck =
  | { status: "ok"; file: string }
  | { status: "unknown" }
  | { status: "revoked"; file: string }
  | { status: "changed"; file: string; expected: ParsedPublicKey };

/** Reads a file's lines; a missing or unreadable file has none. */
function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split(/\r?\n/);
  } catch {
    return []; // no known_hosts file yet: every host is unknown
  }
}

/**
 * Checks a host key against known_hosts files, most authoritative first: the first file that knows
 * this host with a key of the same type decides (ours comes first, so accepting a changed key in the
 * UI overrides an old entry in ~/.ssh/known_hosts). `@revoked` keys are refused wherever they appear.
 */
export function checkHostKey(files: string[], host: string, port: number, blob: Buffer): HostKeyCheck {
  const name = knownHostsHost(host, port);
  const keyType = keyTypeOfBlob(blob);
  const keyBase64 = blob.toString("base64");
  for (const file of files) {
    for (const line of readLines(file)) {
      const e = parseLine(line);
      if (e?.marker === "@revoked" && e.keyBase64 === keyBase64) return { status: "revoked", file };
    }
  }
  for (const file of files) {
    let expected: ParsedPublicKey | undefined;
    for (const line of readLines(file)) {
      const e = parseLine(line);
      if (!e || e.marker || !hostsMatch(e.hosts, name)) continue;
      if (e.keyType !== keyType) continue;
      if (e.keyBase64.replace(/=+$/, "") === keyBase64.replace(/=+$/, "")) return { status: "ok", file };
      expected ??= safeParse(`${e.keyType} ${e.keyBase64}`);
    }
    if (expected) return { status: "changed", file, expected };
  }
  return { status: "unknown" };
}

function safeParse(text: string): ParsedPublicKey | undefined {
  try {
    return parsePublicKey(text);
  } catch {
    return undefined; // a corrupt line cannot be the expected key
  }
}

/** Key types known for a host in these files, to ask the server for those first (as OpenSSH does). */
export function knownKeyTypes(files: string[], host: string, port: number): string[] {
  const name = knownHostsHost(host, port);
  const out = new Set<string>();
  for (const file of files) {
    for (const line of readLines(file)) {
      const e = parseLine(line);
      if (e && !e.marker && hostsMatch(e.hosts, name)) out.add(e.keyType);
    }
  }
  return [...out];
}

/** One entry as `GET /api/remote/known-hosts/list` returns it. */
export interface KnownHostsListEntry {
  host: string;
  port: number;
  known_hosts_host: string;
  key_type: string;
  key_base64: string;
  fingerprint_sha256: string;
}

/** Runicorn's own `CFG/known_hosts`: list, upsert, remove under a lock file, written atomically. */
export class KnownHostsStore {
  constructor(
    readonly path: string,
    private readonly lockTimeoutMs = 10_000,
  ) {}

  /** Every (host, key) pair; comma-separated host lists are expanded, hashed hosts are skipped. */
  list(): KnownHostsListEntry[] {
    const out: KnownHostsListEntry[] = [];
    for (const line of readLines(this.path)) {
      const e = parseLine(line);
      if (!e || e.marker) continue;
      for (const field of e.hosts) {
        if (field.startsWith("|")) continue;
        const { host, port } = parseKnownHostsHost(field);
        const blob = Buffer.from(e.keyBase64, "base64");
        out.push({
          host,
          port,
          known_hosts_host: field,
          key_type: e.keyType,
          key_base64: e.keyBase64,
          fingerprint_sha256: fingerprintSha256(blob),
        });
      }
    }
    return out;
  }

  /** Adds or replaces the key of one type for a plain host (isPlainHost, else KnownHostsError); true when the file changed. */
  upsert(host: string, port: number, keyType: string, keyBase64: string): boolean {
    if (!isPlainHost(host)) throw new KnownHostsError(`Refusing to trust a key for '${host}': not a plain host name or IP address`);
    if (!/^[A-Za-z0-9@._+-]+$/.test(keyType) || !/^[A-Za-z0-9+/]+=*$/.test(keyBase64)) {
      throw new KnownHostsError("Refusing to write a malformed host key");
    }
    const target = knownHostsHost(plainHost(host), port);
    return this.update((lines) => {
      const out: string[] = [];
      const fresh = `${target} ${keyType} ${keyBase64}`;
      let inserted = false;
      for (const raw of lines) {
        const e = parseLine(raw);
        if (!e || e.marker || e.keyType !== keyType || !e.hosts.includes(target)) {
          out.push(raw);
          continue;
        }
        const rest = e.hosts.filter((h) => h !== target);
        if (rest.length) out.push(formatLine({ ...e, hosts: rest }));
        if (!inserted) out.push(fresh);
        inserted = true;
      }
      if (!inserted) out.push(fresh);
      return out;
    });
  }

  /** Removes a host's key of one type; true when something was removed. */
  remove(host: string, port: number, keyType: string): boolean {
    const target = knownHostsHost(host, port);
    return this.update((lines) => {
      const out: string[] = [];
      for (const raw of lines) {
        const e = parseLine(raw);
        if (!e || e.marker || e.keyType !== keyType || !e.hosts.includes(target)) {
          out.push(raw);
          continue;
        }
        const rest = e.hosts.filter((h) => h !== target);
        if (rest.length) out.push(formatLine({ ...e, hosts: rest }));
      }
      return out;
    });
  }

  private update(edit: (lines: string[]) => string[]): boolean {
    return this.withLock(() => {
      const before = existsSync(this.path) ? readFileSync(this.path, "utf8") : "";
      const lines = before.split(/\r?\n/);
      if (lines.at(-1) === "") lines.pop();
      const next = edit(lines);
      const text = next.length ? next.join("\n") + "\n" : "";
      if (text === before) return false;
      try {
        writeSecretFile(this.path, text);
      } catch (err) {
        throw new KnownHostsError(`Failed to write known_hosts atomically: ${this.path} (${(err as Error).message})`);
      }
      return true;
    });
  }

  /** A lock file next to the store (not the original's `known_hosts.lock`, which flock leaves behind). */
  private withLock<T>(fn: () => T): T {
    mkdirSync(dirname(this.path), { recursive: true });
    const lock = `${this.path}.rnlock`;
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        closeSync(openSync(lock, "wx"));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        // A lock older than the timeout was left by a crashed process.
        try {
          if (Date.now() - statSync(lock).mtimeMs > this.lockTimeoutMs) rmSync(lock, { force: true });
        } catch {
          // it vanished between the two calls: just retry
        }
        if (Date.now() > deadline) throw new KnownHostsError(`Timeout acquiring known_hosts lock: ${lock}`);
        Bun.sleepSync(20);
      }
    }
    try {
      return fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

/** The 409 `host_key` object of spec §3.12 for a presented key that is unknown or changed. */
export interface HostKeyProblem {
  host: string;
  port: number;
  known_hosts_host: string;
  key_type: string;
  fingerprint_sha256: string;
  public_key: string;
  reason: "unknown" | "changed";
  expected_fingerprint_sha256?: string;
  expected_public_key?: string;
}

/** Builds the spec §3.12 host-key problem for a presented key. */
export function hostKeyProblem(
  host: string,
  port: number,
  blob: Buffer,
  check: HostKeyCheck,
): HostKeyProblem {
  const keyType = keyTypeOfBlob(blob);
  const p: HostKeyProblem = {
    host,
    port,
    known_hosts_host: knownHostsHost(host, port),
    key_type: keyType,
    fingerprint_sha256: fingerprintSha256(blob),
    public_key: `${keyType} ${blob.toString("base64")}`,
    reason: check.status === "changed" ? "changed" : "unknown",
  };
  if (check.status === "changed") {
    p.expected_fingerprint_sha256 = fingerprintSha256(check.expected.blob);
    p.expected_public_key = `${check.expected.keyType} ${check.expected.keyBase64}`;
  }
  return p;
}
