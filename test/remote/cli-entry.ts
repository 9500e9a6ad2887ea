// Runs `runicorn remote …` in a child process for the CLI tests (main.ts wires the same function).
import { UsageError } from "../../src/cli/args.ts";
import { runRemoteCommand } from "../../src/cli/remote.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/util/log.ts";

const config = loadConfig({ logLevel: "warn" }, { ...process.env });
runRemoteCommand(process.argv.slice(2), { config, log: createLogger("warn"), selfPath: process.env.RN_TEST_SELF ?? "" })
  .then((code) => process.exit(code))
  .catch((e) => {
    console.error(`runicorn: ${(e as Error).message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
