/**
 * What `deploy` and `rollback` share: the state store (embedded PGlite, or DATABASE_URL), the
 * hosts file, one SSH pool, and the identity written into host locks. `status` needs the store only.
 */
import { createHash } from "node:crypto";
import { mkdirSync, realpathSync } from "node:fs";
import { userInfo } from "node:os";
import { type HostConfig, type Inventory, loadInventory } from "../config/hostsFile.ts";
import { SshPool } from "../deploy/ssh/pool.ts";
import type { Notifier } from "../notify/notifier.ts";
import { openStore, type Store } from "../state/store.ts";
import { cliNotifications } from "./notify.ts";

export interface Session {
  store: Store;
  hosts: HostConfig[];
  /** The whole hosts file: hosts and registries. */
  inventory: Inventory;
  pool: SshPool;
  /** The installation (database) this CLI writes to; host locks carry it (see hostLock.ts). */
  installationId: string;
  actor: string;
  /** Deploy results and rollbacks, told to the hosts file's notification channels (notify.ts). */
  notifier: Pick<Notifier, "emit">;
  /** Waits (bounded) for notifications, then closes the pool and the store. */
  close(): Promise<void>;
}

export function defaultDataDir(flag: string | undefined): string {
  return flag ?? process.env.STACKPILOT_DATA_DIR ?? ".stackpilot";
}

/** The state store: Postgres when DATABASE_URL is set, else the embedded one under the data dir. */
export function openStateStore(dataDir: string): Promise<Store> {
  mkdirSync(dataDir, { recursive: true });
  const databaseUrl = process.env.DATABASE_URL;
  return openStore({ dataDir, ...(databaseUrl ? { databaseUrl } : {}) });
}

export async function openSession(opts: {
  hostsFile: string;
  dataDir: string;
  /** Where warnings about undelivered notifications go (stderr). */
  err?: (line: string) => void;
}): Promise<Session> {
  const inventory = await loadInventory(opts.hostsFile);
  const hosts = inventory.hosts;
  const store = await openStateStore(opts.dataDir);
  const pool = new SshPool(hosts, { dataDir: opts.dataDir });
  const notify = cliNotifications(inventory.notifications ?? [], store, opts.err ?? (() => {}));
  // Hash, so that a database URL with a password never lands on a host.
  const installationId = createHash("sha256")
    .update(process.env.DATABASE_URL ?? `pglite:${realpathSync(opts.dataDir)}`)
    .digest("hex")
    .slice(0, 16);
  return {
    store,
    hosts,
    inventory,
    pool,
    installationId,
    actor: process.env.STACKPILOT_ACTOR ?? userInfo().username,
    notifier: notify.notifier,
    async close() {
      await notify.finish();
      await pool.close();
      await store.close();
    },
  };
}
