// Files of CFG that hold secrets: written 0600 and atomically, looser modes fixed on write, the key created once.
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSecretFile } from "../../src/config/secret-file.ts";
import { updateUserFile } from "../../src/config/user-files.ts";
import { KnownHostsStore } from "../../src/remote/known-hosts.ts";
import { SecretBox } from "../../src/remote/secrets.ts";
import { tempDir } from "../helpers/server.ts";

const t = tempDir("rn-secret-files-");
afterAll(() => t.cleanup());
let n = 0;
const fresh = () => {
  const d = join(t.dir, `cfg${n++}`);
  mkdirSync(d);
  return d;
};
const mode = (p: string) => statSync(p).mode & 0o777;

describe("secret files", () => {
  it("writes config.json 0600 even when the process umask would allow more, and fixes a 0644 file on the next write", () => {
    const cfg = fresh();
    const old = process.umask(0);
    try {
      updateUserFile(cfg, "config.json", () => ({ ssh_connections: [] }));
    } finally {
      process.umask(old);
    }
    expect(mode(join(cfg, "config.json"))).toBe(0o600);
    chmodSync(join(cfg, "config.json"), 0o644);
    updateUserFile(cfg, "config.json", (c) => ({ ...c, user_root_dir: "/data" }));
    expect(mode(join(cfg, "config.json"))).toBe(0o600);
    expect(JSON.parse(readFileSync(join(cfg, "config.json"), "utf8"))).toEqual({ ssh_connections: [], user_root_dir: "/data" });
    expect(readdirSync(cfg)).toEqual(["config.json"]); // no temp file left behind
  });

  it("creates the config dir 0700 and replaces a symlink at the target instead of writing through it", () => {
    const cfg = join(fresh(), "new", "runicorn");
    writeSecretFile(join(cfg, "a.json"), "{}");
    expect(mode(cfg)).toBe(0o700);
    const outside = join(t.dir, "outside.txt");
    writeFileSync(outside, "keep me");
    symlinkSync(outside, join(cfg, "connections.json"));
    writeSecretFile(join(cfg, "connections.json"), "[]");
    expect(readFileSync(outside, "utf8")).toBe("keep me");
    expect(readFileSync(join(cfg, "connections.json"), "utf8")).toBe("[]");
    expect(mode(join(cfg, "connections.json"))).toBe(0o600);
  });

  it("keeps an existing file when asked to create it exclusively", () => {
    const p = join(fresh(), "k");
    expect(writeSecretFile(p, "first", { exclusive: true })).toBe(true);
    expect(writeSecretFile(p, "second", { exclusive: true })).toBe(false);
    expect(readFileSync(p, "utf8")).toBe("first");
    expect(readdirSync(join(p, ".."))).toEqual(["k"]);
  });

  it("creates the secret key once, 0600, and two boxes of the same dir share it", () => {
    const cfg = fresh();
    const a = new SecretBox(cfg);
    const b = new SecretBox(cfg);
    const enc = a.encrypt("pw", "u@h:22");
    expect(b.decrypt(enc, "u@h:22")).toBe("pw");
    expect(mode(join(cfg, ".runicorn-secret.key"))).toBe(0o600);
    expect(statSync(join(cfg, ".runicorn-secret.key")).size).toBe(32);
  });

  it("writes our known_hosts 0600 and fixes a looser one", () => {
    const cfg = fresh();
    const path = join(cfg, "known_hosts");
    writeFileSync(path, "");
    chmodSync(path, 0o644);
    const store = new KnownHostsStore(path);
    store.upsert("gpu.example.com", 22, "ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl");
    expect(mode(path)).toBe(0o600);
    expect(existsSync(`${path}.rnlock`)).toBe(false);
    expect(() => store.upsert("*", 22, "ssh-ed25519", "AAAA")).toThrow("not a plain host name or IP address");
    expect(() => store.upsert("a", 22, "ssh-ed25519 x", "AAAA")).toThrow("malformed host key");
  });
});
