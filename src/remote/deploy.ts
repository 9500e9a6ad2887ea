// Self-deploy: upload this executable to ~/.runicorn/bin over SFTP (gzip-compressed), verify its sha256 remotely, rename atomically.
import { createReadStream, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createGzip } from "node:zlib";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { SshConnection } from "./connection.ts";
import { binaryName, type HostProbe, REMOTE_BIN_DIR } from "./host-probe.ts";
import { shq } from "./shell-quote.ts";

/** The local executable to deploy and its identity. */
export interface LocalBinary {
  path: string;
  size: number;
  sha256: string;
}

const hashCache = new Map<string, LocalBinary>();

/** Hashes a local file (cached per path, size and mtime, so a long-lived server hashes once). */
export async function describeLocalBinary(path: string): Promise<LocalBinary> {
  const st = statSync(path);
  const cacheKey = `${path}:${st.size}:${st.mtimeMs}`;
  const hit = hashCache.get(cacheKey);
  if (hit) return hit;
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
  const out = { path, size: st.size, sha256: hasher.digest("hex") };
  hashCache.set(cacheKey, out);
  return out;
}

/** Progress of an upload, in bytes of the uncompressed file. */
export type ProgressFn = (sent: number, total: number) => void;

/** Result of ensureBinary. */
export interface DeployResult {
  /** Absolute remote path of the executable. */
  remotePath: string;
  uploaded: boolean;
  /** Bytes that went over the wire (compressed size), 0 when nothing was uploaded. */
  wireBytes: number;
}

/**
 * Makes sure `~/.runicorn/bin/runicorn-<version>-<os>-<arch>` on the server is this binary: present,
 * same size, and the sha256 recorded at deploy time equals ours; otherwise uploads it.
 */
export async function ensureBinary(
  conn: SshConnection,
  probe: HostProbe,
  local: LocalBinary,
  version: string,
  onProgress?: ProgressFn,
): Promise<DeployResult> {
  const name = binaryName(version, probe.os, probe.arch);
  const dir = `${probe.home.replace(/\/+$/, "")}/${REMOTE_BIN_DIR}`;
  const remotePath = `${dir}/${name}`;
  const existing = probe.binaries.get(name);
  if (existing && existing.size === local.size && existing.sha256 === local.sha256) {
    return { remotePath, uploaded: false, wireBytes: 0 };
  }
  const wireBytes = await uploadBinary(conn, probe, local, dir, name, onProgress);
  return { remotePath, uploaded: true, wireBytes };
}

async function uploadBinary(
  conn: SshConnection,
  probe: HostProbe,
  local: LocalBinary,
  dir: string,
  name: string,
  onProgress?: ProgressFn,
): Promise<number> {
  const sumCmd = probe.tools.has("sha256sum") ? "sha256sum" : probe.tools.has("shasum") ? "shasum -a 256" : undefined;
  if (!sumCmd) throw new Error("the server has neither sha256sum nor shasum, so the upload cannot be verified");
  const gz = probe.tools.has("gzip");
  const tmp = `${dir}/.${name}.tmp.${randomBytes(4).toString("hex")}`;
  const upload = gz ? `${tmp}.gz` : tmp;
  const mk = await conn.exec(`mkdir -p ${shq(dir)} && chmod 700 ${shq(dir)}`);
  if (mk.code !== 0) throw new Error(`cannot create ${dir} on the server: ${mk.stderr.trim()}`);

  const sftp = await conn.sftp();
  let sent = 0;
  let wire = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      onProgress?.(sent, local.size);
      cb(null, chunk);
    },
  });
  const wireCount = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      wire += chunk.length;
      cb(null, chunk);
    },
  });
  const out = sftp.createWriteStream(upload, { mode: 0o600 });
  try {
    const src = createReadStream(local.path, { highWaterMark: 1 << 20 });
    if (gz) await pipeline(src, count, createGzip({ level: 6 }), wireCount, out);
    else await pipeline(src, count, wireCount, out);
  } catch (err) {
    await conn.exec(`rm -f ${shq(upload)}`).catch(() => undefined);
    throw new Error(`upload failed: ${(err as Error).message}`);
  }

  const q = shq;
  const script = [
    "set -e",
    gz ? `gzip -dc ${q(upload)} > ${q(tmp)}; rm -f ${q(upload)}` : ":",
    `s=$(${sumCmd} ${q(tmp)} | cut -d' ' -f1)`,
    `if [ "$s" != ${q(local.sha256)} ]; then rm -f ${q(tmp)}; echo "checksum mismatch: got $s" >&2; exit 3; fi`,
    `chmod 755 ${q(tmp)}`,
    `printf '%s\\n' ${q(local.sha256)} > ${q(`${tmp}.sha256`)}`,
    `mv -f ${q(tmp)} ${q(`${dir}/${name}`)}`,
    `mv -f ${q(`${tmp}.sha256`)} ${q(`${dir}/${name}.sha256`)}`,
  ].join("\n");
  const r = await conn.exec(script, { timeoutMs: 300_000 });
  if (r.code !== 0) {
    await conn.exec(`rm -f ${q(upload)} ${q(tmp)} ${q(`${tmp}.sha256`)}`).catch(() => undefined);
    throw new Error(`deploy verification failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return wire;
}
