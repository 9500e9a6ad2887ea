// Runs `runicorn remote …` (the fleet form when several hosts are given) in a child process, as main.ts wires it.
import { UsageError } from "../../src/cli/args.ts";
import { runRemoteCommand } from "../../src/cli/remote.ts";
import { isFleetRemote, runRemoteFleet } from "../../src/cli/remote-fleet.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/util/log.ts";

const argv = process.argv.slice(2);
const deps = { config: loadConfig({ logLevel: "warn" }, { ...process.env }), log: createLogger("warn"), selfPath: process.env.RN_TEST_SELF ?? "" };
(isFleetRemote(argv) ? runRemoteFleet(argv, deps) : runRemoteCommand(argv, deps))
  .then((code) => process.exit(code))
  .catch((e) => {
    console.error(`runicorn: ${(e as Error).message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
