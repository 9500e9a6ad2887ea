// Secrets at rest: AES-256-GCM with a per-user key file (mode 600); reads the original's XOR and Fernet values too (spec §6.4).
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Prefix of values we encrypted: `rnenc1:` + base64(iv ‖ ciphertext ‖ tag). */
export const SECRET_PREFIX = "rnenc1:";
/** Our key file in CFG: 32 random bytes. */
export const KEY_FILE = ".runicorn-secret.key";

/** Encrypts and decrypts secret strings with the key in `configDir`. */
export class SecretBox {
  private key: Buffer | undefined;

  constructor(private readonly configDir: string) {}

  /** True for a value this box (or the original) encrypted. */
  static isEncrypted(value: unknown): value is string {
    return (
      typeof value === "string" &&
      (value.startsWith(SECRET_PREFIX) || value.startsWith("ENC:") || (value.startsWith("gAAAAA") && value.length > 50))
    );
  }

  /** Encrypts a secret; the key file is created (mode 600) on first use. */
  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.getKey(), iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return SECRET_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
  }

  /**
   * Decrypts a stored value: ours, the original's `ENC:` XOR values (CFG/.credential_key) or its
   * Fernet tokens (CFG/.secret.key); a plain value is returned as is. Undefined when it cannot be read.
   */
  decrypt(stored: string): string | undefined {
    try {
      if (stored.startsWith(SECRET_PREFIX)) {
        const raw = Buffer.from(stored.slice(SECRET_PREFIX.length), "base64");
        const decipher = createDecipheriv("aes-256-gcm", this.getKey(), raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
      }
      if (stored.startsWith("ENC:")) return this.decryptXor(stored.slice(4));
      if (stored.startsWith("gAAAAA") && stored.length > 50) return this.decryptFernet(stored);
      return stored;
    } catch {
      return undefined; // wrong key or tampered value: treat as not stored
    }
  }

  private getKey(): Buffer {
    if (this.key) return this.key;
    const path = join(this.configDir, KEY_FILE);
    try {
      const k = readFileSync(path);
      if (k.length === 32) return (this.key = k);
    } catch {
      // no key yet: create it below
    }
    mkdirSync(this.configDir, { recursive: true });
    const k = randomBytes(32);
    writeFileSync(path, k, { mode: 0o600, flag: "w" });
    chmodSync(path, 0o600);
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
