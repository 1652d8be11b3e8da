/**
 * The state store or a whole session, opened for one command and closed however it ends; and
 * whether there is any state to read, for the commands that only read it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Store } from "../state/store.ts";
import { openSession, openStateStore, type Session } from "./session.ts";

/**
 * Whether the data directory holds a state store (always so with DATABASE_URL). Reading must not
 * create: a command run from the wrong directory would leave an empty database.
 */
export function hasState(dataDir: string): boolean {
  return Boolean(process.env.DATABASE_URL) || existsSync(join(dataDir, "pglite"));
}

export async function withStore<T>(dataDir: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStateStore(dataDir);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

export async function withSession<T>(
  opts: Parameters<typeof openSession>[0],
  use: (session: Session) => Promise<T>,
): Promise<T> {
  const session = await openSession(opts);
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}
