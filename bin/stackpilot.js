#!/usr/bin/env node
// Do not add logic here: the CLI lives in src/cli/main.ts (compiled to dist/).
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
