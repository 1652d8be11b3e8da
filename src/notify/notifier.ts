/**
 * Where events become notifications: for each channel subscribed to an event (and to its
 * repository), a failure of one target is an episode (dedupe.ts, its state in the database under
 * a row lock, so replicas and restarts agree): sent once, reminded, resolved once; events without
 * a failure to follow (a rollback, a successful deploy) are sent as they come. Sending is queued
 * (queue.ts): `emit` never throws and never makes its caller wait, so a deploy is never blocked or
 * failed by a notification.
 */
import type { NotificationChannel, NotifyEvent } from "../config/notifications.ts";
import type { Store } from "../state/store.ts";
import { compileGlob } from "../util/glob.ts";
import { decideEpisode } from "./dedupe.ts";
import { boundMessage, errorTail, type Message, type Phase, short } from "./message.ts";

type Target = { repo: string; stack: string; host: string };

/** What happened, as the places it happens (rollouts, rollbacks, drift rounds) say it. */
export type NotifyInput = Target &
  (
    | { type: "deploy"; commit: string; ok: boolean; error?: string; deploymentId?: number }
    | { type: "rollback"; ok: boolean; to?: string; from?: string; actor: string; error?: string }
    | { type: "drift"; commit: string; differences: string[] }
    | { type: "in_sync"; commit: string }
    | { type: "heal_failed"; commit: string; error: string; deploymentId?: number }
    | { type: "heal_given_up"; commit: string; until: Date; detail: string }
  );

export interface Outgoing {
  channel: string;
  message: Message;
}

/** Hands a message to the delivery queue (queue.ts) or, in tests, to a receiver directly. */
export interface Dispatch {
  send(job: Outgoing): Promise<void>;
}

export interface NotifierDeps {
  channels: readonly NotificationChannel[];
  store: Pick<Store, "updateEpisode">;
  dispatch: Dispatch;
  log: { warn(msg: string): void; error(msg: string): void };
}

/** The input of one event type, narrowed for the method that handles it. */
type InputOf<T extends NotifyInput["type"]> = Extract<NotifyInput, { type: T }>;

/** What every message of one event shares: its target and the time it happened. */
type Base = Target & { at: string };

/** A failure that stays open until a success closes it: its episode topic and its event. */
interface Episodic {
  topic: string;
  event: NotifyEvent;
}

export class Notifier {
  readonly #deps: NotifierDeps;
  readonly #pending = new Set<Promise<void>>();
  readonly #repoOk: Map<string, (repo: string) => boolean>;

  constructor(deps: NotifierDeps) {
    this.#deps = deps;
    this.#repoOk = new Map(
      deps.channels.map((c) => [c.name, c.repos.length ? compileGlob(c.repos) : () => true]),
    );
  }

  /** Fire and forget: failures are logged, never thrown. */
  emit(input: NotifyInput): void {
    if (this.#deps.channels.length === 0) return;
    const p = this.#handle(input)
      .catch((err: unknown) =>
        this.#deps.log.error(
          `notifications of ${input.type} for ${input.stack} on ${input.host} failed: ${(err as Error).message}`,
        ),
      )
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Waits for every emit so far to be queued (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  /** One event, by its type: a failure follows its episode, anything else is sent as it comes. */
  async #handle(input: NotifyInput): Promise<void> {
    const base: Base = {
      repo: input.repo,
      stack: input.stack,
      host: input.host,
      at: new Date().toISOString(),
    };
    switch (input.type) {
      case "deploy":
        return input.ok ? this.#deploySucceeded(input, base) : this.#deployFailed(input, base);
      case "rollback":
        return this.#rollback(input, base);
      case "drift":
        return this.#drift(input, base);
      case "in_sync":
        return this.#inSync(input, base);
      case "heal_failed":
        return this.#healFailed(input, base);
      case "heal_given_up":
        return this.#healGivenUp(input, base);
    }
  }

  #deployFailed(input: InputOf<"deploy">, base: Base): Promise<void> {
    return this.#failure({ topic: "deploy", event: "deploy_failed" }, input, (phase) => ({
      ...base,
      ...commitOf(input),
      event: "deploy_failed",
      phase,
      title: `deploy of ${short(input.commit)} failed`,
      details: errorTail(input.error),
    }));
  }

  /** A success ends a failed deploy's episode where one was sent, and is an event of its own. */
  async #deploySucceeded(input: InputOf<"deploy">, base: Base): Promise<void> {
    await this.#success([{ topic: "deploy", event: "deploy_failed" }], input, {
      ...base,
      ...commitOf(input),
      title: `deploys again: ${short(input.commit)} succeeded`,
      details: [],
    });
    return this.#event("deploy_succeeded", input, {
      ...base,
      ...commitOf(input),
      event: "deploy_succeeded",
      phase: "alert",
      title: `deployed ${short(input.commit)}`,
      details: [],
    });
  }

  #rollback(input: InputOf<"rollback">, base: Base): Promise<void> {
    return this.#event("rollback", input, {
      ...base,
      ...(input.to ? { commit: input.to } : {}),
      event: "rollback",
      phase: "alert",
      title: input.ok
        ? `rolled back from ${short(input.from)} to ${short(input.to)} by ${input.actor} (pinned)`
        : `rollback by ${input.actor} failed`,
      details: input.ok ? [] : errorTail(input.error),
    });
  }

  #drift(input: InputOf<"drift">, base: Base): Promise<void> {
    return this.#failure({ topic: "drift", event: "drift" }, input, (phase) => ({
      ...base,
      commit: input.commit,
      event: "drift",
      phase,
      title: `drifted from the recorded release ${short(input.commit)}`,
      details: input.differences,
    }));
  }

  #inSync(input: InputOf<"in_sync">, base: Base): Promise<void> {
    return this.#success(IN_SYNC_CLOSES, input, {
      ...base,
      commit: input.commit,
      title: `back in sync with ${short(input.commit)}`,
      details: [],
    });
  }

  #healFailed(input: InputOf<"heal_failed">, base: Base): Promise<void> {
    return this.#failure({ topic: "heal", event: "heal_failed" }, input, (phase) => ({
      ...base,
      ...commitOf(input),
      event: "heal_failed",
      phase,
      title: `heal (a redeploy of ${short(input.commit)}) failed; retried within its limit`,
      details: errorTail(input.error),
    }));
  }

  #healGivenUp(input: InputOf<"heal_given_up">, base: Base): Promise<void> {
    return this.#failure({ topic: "heal_given_up", event: "heal_failed" }, input, (phase) => ({
      ...base,
      commit: input.commit,
      event: "heal_failed",
      phase,
      title: `heal given up until ${input.until.toISOString().slice(0, 16).replace("T", " ")} UTC`,
      details: [input.detail],
    }));
  }

  /** Channels subscribed to `event` and to the target's repository. */
  #channels(event: NotifyEvent, target: Target): NotificationChannel[] {
    return this.#deps.channels.filter(
      (c) => c.events.includes(event) && (this.#repoOk.get(c.name)?.(target.repo) ?? false),
    );
  }

  async #event(event: NotifyEvent, target: Target, message: Message): Promise<void> {
    for (const c of this.#channels(event, target)) await this.#send(c, message);
  }

  /** A failure: per channel, its episode says whether to send an alert, a reminder or nothing. */
  async #failure(e: Episodic, target: Target, message: (phase: Phase) => Message): Promise<void> {
    for (const c of this.#channels(e.event, target)) {
      const phase = await this.#deps.store.updateEpisode(
        { channel: c.name, topic: e.topic, ...target },
        (prev, now) => decideEpisode(prev, "failure", now, c.reminder),
      );
      if (phase) await this.#send(c, message(phase));
    }
  }

  /** A success closes the episodes it ends; a channel hears it once, if a failure was sent there. */
  async #success(
    ends: readonly Episodic[],
    target: Target,
    message: Omit<Message, "event" | "phase">,
  ): Promise<void> {
    for (const c of this.#deps.channels) {
      let told: NotifyEvent | undefined;
      for (const e of ends) {
        if (!this.#channels(e.event, target).includes(c)) continue;
        const phase = await this.#deps.store.updateEpisode(
          { channel: c.name, topic: e.topic, ...target },
          (prev, now) => decideEpisode(prev, "success", now, c.reminder),
        );
        if (phase) told ??= e.event;
      }
      if (told) await this.#send(c, { ...message, event: told, phase: "resolved" });
    }
  }

  async #send(channel: NotificationChannel, message: Message): Promise<void> {
    await this.#deps.dispatch.send({ channel: channel.name, message: boundMessage(message) });
  }
}

/** Back in sync ends a drift, and whatever healing failed on the way. */
const IN_SYNC_CLOSES: readonly Episodic[] = [
  { topic: "drift", event: "drift" },
  { topic: "heal", event: "heal_failed" },
  { topic: "heal_given_up", event: "heal_failed" },
];

/** The commit a deploy concerns, with its GitHub deployment when there is one. */
function commitOf(input: {
  commit: string;
  deploymentId?: number;
}): Pick<Message, "commit" | "deploymentId"> {
  return { commit: input.commit, ...(input.deploymentId ? { deploymentId: input.deploymentId } : {}) };
}

/** A notifier that sends nothing (no channels configured, or the CLI). */
export const SILENT: Pick<Notifier, "emit" | "flush"> = { emit: () => {}, flush: async () => {} };
