// Secrets at rest: AES-256-GCM with a per-user key file (mode 600), each bound to its `user@host:port`; reads the original's XOR and Fernet values too (spec §6.4).
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeSecretFile } from "../config/secret-file.ts";

/**
 * Prefix of values we encrypt now: `rnenc2:` + base64(iv ‖ ciphertext ‖ tag), with the target
 * `user@host:port` as GCM additional data, so a value decrypts only for the server it was saved for.
 */
export const SECRET_PREFIX = "rnenc2:";
/** Earlier values of ours, not bound to a target (still read; bound by the entry they sit in). */
export const LEGACY_PREFIX = "rnenc1:";
/** Our key file in CFG: 32 random bytes. */
export const KEY_FILE = ".runicorn-secret.key";

/** Encrypts and decrypts secret strings with the key in `configDir`. */
export class SecretBox {
  private key: Buffer | undefined;

  constructor(private readonly configDir: string) {}

  /**
   * Encrypts a secret for `target` (`user@host:port`); the key file is created (mode 600) on first use.
   * Every value a user supplies goes through here, whatever it looks like (an `ENC:…` password is a password).
   */
  encrypt(plain: string, target: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.getKey(), iv);
    cipher.setAAD(Buffer.from(target, "utf8"));
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return SECRET_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
  }

  /**
   * Decrypts a stored value: ours, the original's `ENC:` XOR values (CFG/.credential_key) or its
   * Fernet tokens (CFG/.secret.key); a plain value is returned as is. Undefined when it cannot be read,
   * and for one of ours saved for a target other than `target`.
   */
  decrypt(stored: string, target: string): string | undefined {
    try {
      const ours = stored.startsWith(SECRET_PREFIX) ? SECRET_PREFIX : stored.startsWith(LEGACY_PREFIX) ? LEGACY_PREFIX : undefined;
      if (ours) {
        const raw = Buffer.from(stored.slice(ours.length), "base64");
        const decipher = createDecipheriv("aes-256-gcm", this.getKey(), raw.subarray(0, 12));
        if (ours === SECRET_PREFIX) decipher.setAAD(Buffer.from(target, "utf8"));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
      }
      if (stored.startsWith("ENC:")) return this.decryptXor(stored.slice(4));
      if (stored.startsWith("gAAAAA") && stored.length > 50) return this.decryptFernet(stored);
      return stored;
    } catch {
      return undefined; // wrong key, another target or a tampered value: treat as not stored
    }
  }

  private getKey(): Buffer {
    if (this.key) return this.key;
    const path = join(this.configDir, KEY_FILE);
    const existing = readKeyFile(path);
    if (existing) return (this.key = existing);
    const k = randomBytes(32);
    // Created exclusively: when another process made one first, use theirs (secrets it encrypted stay readable).
    if (!writeSecretFile(path, k, { exclusive: true })) {
      const theirs = readKeyFile(path);
      if (theirs) return (this.key = theirs);
      writeSecretFile(path, k); // a corrupt key file: nothing it protected can be read anyway
    }
    return (this.key = k);
  }

  private decryptXor(b64: string): string {
    const key = readFileSync(join(this.configDir, ".credential_key"));
    const data = Buffer.from(b64, "base64");
    for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ key[i % key.length]!;
    return data.toString("utf8");
  }

  private decryptFernet(token: string): string {
    const key = Buffer.from(readFileSync(join(this.configDir, ".secret.key"), "utf8").trim(), "base64url");
    const raw = Buffer.from(token, "base64url");
    const mac = createHmac("sha256", key.subarray(0, 16)).update(raw.subarray(0, raw.length - 32)).digest();
    if (!timingSafeEqual(mac, raw.subarray(raw.length - 32))) throw new Error("bad Fernet token");
    const decipher = createDecipheriv("aes-128-cbc", key.subarray(16, 32), raw.subarray(9, 25));
    return Buffer.concat([decipher.update(raw.subarray(25, raw.length - 32)), decipher.final()]).toString("utf8");
  }
}

/** The 32-byte key, its mode tightened to 0600 if it was looser; undefined when missing or not 32 bytes. */
function readKeyFile(path: string): Buffer | undefined {
  let k: Buffer;
  try {
    k = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  if (k.length !== 32) return undefined;
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return k;
}
