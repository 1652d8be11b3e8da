// Runs the CLI from source in a child process, so a test can kill it mid-deploy (SIGKILL).
import { main } from "../../src/cli/main.ts";

process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
