/** A benchmark's scratch directory: emptied, handed to `main`, removed after unless BENCH_KEEP=1. */
import { mkdirSync, rmSync } from "node:fs";

export async function inScratchDir(dir: string, main: () => Promise<void>): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    await main();
  } finally {
    if (process.env.BENCH_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  }
}
