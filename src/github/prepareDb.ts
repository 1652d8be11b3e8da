/**
 * `node prepareDb.(ts|js) DATA_DIR`: open the embedded database once and close it: initdb on
 * first use, migrations, pg-boss's schema. Run by server.ts as a short-lived child before the
 * server opens the same directory, so that one-off work (PGlite runs initdb in a second WASM
 * instance; V8 compiles its hot paths) and what it leaves in the heap never count against the
 * long-running server's memory.
 */
import { startBoss } from "../state/boss.ts";
import { openStore } from "../state/store.ts";

const dataDir = process.argv[2];
if (!dataDir) {
  console.error("usage: prepareDb DATA_DIR");
  process.exit(2);
}
const store = await openStore({ dataDir });
try {
  const boss = await startBoss(store);
  await boss.stop({ graceful: true, close: true });
} finally {
  await store.close();
}
