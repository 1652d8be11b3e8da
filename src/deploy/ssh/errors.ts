/**
 * Every SSH failure names the host it happened on, so a deploy to many hosts can report each one.
 * Callers branch on the class: unreachable hosts may be retried later, key and auth errors need a
 * human, a lost connection leaves the remote state unknown.
 */

export class SshError extends Error {
  readonly host: string;
  constructor(host: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SshError";
    this.host = host;
  }
}

/** TCP connect refused or timed out, DNS failure, jump host could not open the forward. */
export class UnreachableError extends SshError {
  readonly address: string;
  readonly port: number;
  constructor(host: string, address: string, port: number, reason: string, options?: ErrorOptions) {
    super(host, `${host} (${address}:${port}) is unreachable: ${reason}`, options);
    this.name = "UnreachableError";
    this.address = address;
    this.port = port;
  }
}

/** The host presented a key other than the pinned one. Nothing was sent to it. */
export class HostKeyMismatchError extends SshError {
  readonly expected: string;
  readonly presented: string;
  constructor(host: string, where: string, expected: string, presented: string, pinnedIn: string) {
    super(
      host,
      `host key mismatch for ${host} (${where}): expected ${expected} (${pinnedIn}), ` +
        `but the host presented ${presented}. Refusing to connect; if the host was reinstalled, ` +
        `update the pin after checking the new key out of band.`,
    );
    this.name = "HostKeyMismatchError";
    this.expected = expected;
    this.presented = presented;
  }
}

/** No pin for this host and trust_on_first_use is off. */
export class HostKeyUnknownError extends SshError {
  readonly presented: string;
  constructor(host: string, where: string, presented: string) {
    super(
      host,
      `host key of ${host} (${where}) is not pinned: it presented ${presented}. ` +
        `Set host_key to that fingerprint after checking it, or set trust_on_first_use: true.`,
    );
    this.name = "HostKeyUnknownError";
    this.presented = presented;
  }
}

/** The private key is missing/unreadable/encrypted, or the host refused it. */
export class AuthError extends SshError {
  constructor(host: string, message: string, options?: ErrorOptions) {
    super(host, message, options);
    this.name = "AuthError";
  }
}

/** The connection dropped (or the host closed the channel) while a command was running. */
export class ConnectionLostError extends SshError {
  constructor(host: string, message: string, options?: ErrorOptions) {
    super(host, message, options);
    this.name = "ConnectionLostError";
  }
}

/** The command ran longer than its timeout and was killed. */
export class CommandTimeoutError extends SshError {
  readonly timeoutMs: number;
  /** What the command printed before it was killed. */
  readonly stdout: string;
  readonly stderr: string;
  constructor(host: string, timeoutMs: number, partial: { stdout: string; stderr: string }) {
    const tail = (partial.stderr || partial.stdout).trim().split("\n").slice(-3).join("\n");
    super(
      host,
      `command on ${host} timed out after ${timeoutMs} ms and was killed${tail ? `:\n${tail}` : ""}`,
    );
    this.name = "CommandTimeoutError";
    this.timeoutMs = timeoutMs;
    this.stdout = partial.stdout;
    this.stderr = partial.stderr;
  }
}
