/**
 * What went wrong with a mirror, in words a user can act on: git's failures classified by what
 * git said (refused token, no such repository, unknown ref, network) and described with the
 * repository and origin, git's own words kept (redacted) as the detail.
 */
import { GitProcessError, lastLines } from "./gitProcess.ts";

export type MirrorErrorKind =
  /** The server refused the token (401/403), or wanted one and none was given. */
  | "auth"
  /** No such repository, or the token cannot see it. */
  | "not-found"
  /** A requested commit id or ref does not exist on the server. */
  | "ref-not-found"
  | "network"
  | "timeout"
  /** Another process held the mirror's lock for all of lockWaitMs. */
  | "locked"
  /**
   * Bad input: a clone URL with credentials or on another origin than the configured GitHub, an
   * odd repository name or ref.
   */
  | "invalid"
  | "git";

export class MirrorError extends Error {
  override name = "MirrorError";
  readonly kind: MirrorErrorKind;
  readonly fullName: string;
  /** git's own words (redacted), when git failed. */
  readonly detail: string | undefined;
  /** Trying again cannot help (the input is wrong): a job should fail now, not be retried. */
  readonly permanent: boolean;

  constructor(kind: MirrorErrorKind, fullName: string, message: string, detail?: string) {
    super(message);
    this.kind = kind;
    this.fullName = fullName;
    this.detail = detail;
    this.permanent = kind === "invalid";
  }
}

/** Who and where, for the message of a failed git command on a mirror. */
export interface GitScene {
  /** `owner/name`, or the mirror's directory. */
  who: string;
  /** `scheme://host[:port]/` of a network command. */
  origin: string | undefined;
  hadToken: boolean;
}

/** A failed git command on a mirror as a MirrorError (anything else thrown is git's too). */
export function mirrorErrorOf(err: unknown, scene: GitScene): MirrorError {
  const failure = err instanceof GitProcessError ? err : undefined;
  const stderr = failure?.stderr ?? String(err);
  const kind: MirrorErrorKind = failure?.reason === "timeout" ? "timeout" : classify(stderr);
  const op = failure?.command ?? "git";
  return new MirrorError(
    kind,
    scene.who,
    describe(kind, scene, op, failure?.timeoutMs ?? 0, stderr),
    lastLines(stderr),
  );
}

function classify(stderr: string): MirrorErrorKind {
  if (
    /could not read (?:Username|Password)|Authentication failed|terminal prompts disabled|returned error: 40[13]|HTTP 40[13]/i.test(
      stderr,
    )
  )
    return "auth";
  if (/repository '.*' not found|Repository not found|returned error: 404|HTTP 404/i.test(stderr))
    return "not-found";
  if (/couldn't find remote ref|not our ref|no such remote ref|invalid refspec/i.test(stderr))
    return "ref-not-found";
  if (
    /Could not resolve host|Failed to connect|Connection refused|Connection reset|Connection timed out|Operation timed out|SSL|TLS|unable to access|RPC failed|early EOF|hung up|unexpected disconnect|protocol error|returned error: 5\d\d|HTTP 5\d\d/i.test(
      stderr,
    )
  )
    return "network";
  return "git";
}

function describe(
  kind: MirrorErrorKind,
  scene: GitScene,
  op: string,
  timeoutMs: number,
  stderr: string,
): string {
  const { who } = scene;
  const where = scene.origin ? ` from ${scene.origin}` : "";
  switch (kind) {
    case "auth":
      return scene.hadToken
        ? `${op} of ${who}${where} was refused (HTTP 401/403): the installation token was rejected, has expired, or cannot read this repository`
        : `${op} of ${who}${where} needs authentication and no token was given`;
    case "not-found":
      return `${op} of ${who}${where}: repository not found (or the token cannot see it)`;
    case "ref-not-found":
      return `${op} of ${who}${where}: ${lastLines(stderr, 1)}`;
    case "timeout":
      return `${op} of ${who}${where} timed out after ${timeoutMs} ms`;
    case "network":
      return `${op} of ${who}${where} could not reach the server: ${lastLines(stderr, 1)}`;
    default:
      return `${op} in the mirror of ${who} failed: ${lastLines(stderr, 2)}`;
  }
}
