// The Windows default agent (the OpenSSH named pipe) may not be running: an agent path that cannot be opened must not block key files.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectSsh } from "../../src/remote/connection.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

let sshd: TestSshd;
beforeAll(async () => {
  sshd = await startSshd();
  writeFileSync(join(sshd.clientHome, ".ssh", "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
});
afterAll(async () => {
  await sshd.stop();
});

describe("an agent that is not there", () => {
  it("is skipped and the key file still logs in", async () => {
    const conn = await connectSsh({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      knownHostsFiles: [join(sshd.clientHome, ".ssh", "known_hosts")],
      homeDir: sshd.clientHome,
      useAgent: true,
      agentSocket: join(sshd.dir, "no-agent-here.sock"),
      identityFiles: [sshd.userKey],
    });
    try {
      const r = await conn.exec("echo ok");
      expect(r.stdout.trim()).toBe("ok");
    } finally {
      await conn.close();
    }
  });
});
