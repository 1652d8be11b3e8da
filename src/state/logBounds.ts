/**
 * Bounds on stored command output. A chatty `docker compose pull` must not grow the database
 * without limit, but the end of an output is what usually says why a command failed, so a
 * long output keeps its start and (mostly) its end, with a marker where bytes were cut.
 */

export interface LogLimits {
  /** Stored bytes of one command's output, marker included. */
  perCommandBytes: number;
  /** Stored bytes of all of a deployment's outputs; past it only a marker is kept per command. */
  perDeploymentBytes: number;
}

export const DEFAULT_LOG_LIMITS: LogLimits = { perCommandBytes: 64 * 1024, perDeploymentBytes: 1024 * 1024 };

/** Commands are short; this only guards against a pathological one. */
export const MAX_COMMAND_TEXT_BYTES = 4096;

export const TRUNCATION_MARKER = "[stackpilot: output truncated";

export function truncationMarker(omittedBytes: number): string {
  return `\n${TRUNCATION_MARKER}, ${omittedBytes} bytes omitted]\n`;
}

export function limitReachedMarker(omittedBytes: number, perDeploymentBytes: number): string {
  return `${TRUNCATION_MARKER}, ${omittedBytes} bytes omitted: this deployment's log reached its limit of ${perDeploymentBytes} bytes]`;
}

export interface Bounded {
  text: string;
  omittedBytes: number;
}

/**
 * Cuts text to at most maxBytes of UTF-8, marker included (only the marker when maxBytes cannot
 * even hold that), keeping a quarter from the start and the rest from the end.
 */
export function boundText(text: string, maxBytes: number): Bounded {
  const buf = Buffer.from(text, "utf8");
  if (buf.length <= maxBytes) return { text, omittedBytes: 0 };
  // Sized for the largest count it could show, so the result never exceeds maxBytes.
  const markerBytes = Buffer.byteLength(truncationMarker(buf.length));
  const keep = Math.max(0, maxBytes - markerBytes);
  let headEnd = Math.floor(keep / 4);
  let tailStart = buf.length - (keep - headEnd);
  // Never split a multi-byte character: move both cuts onto character starts.
  while (headEnd > 0 && isContinuationByte(buf[headEnd])) headEnd--;
  while (tailStart < buf.length && isContinuationByte(buf[tailStart])) tailStart++;
  const omittedBytes = tailStart - headEnd;
  return {
    text:
      buf.subarray(0, headEnd).toString("utf8") +
      truncationMarker(omittedBytes) +
      buf.subarray(tailStart).toString("utf8"),
    omittedBytes,
  };
}

function isContinuationByte(byte: number | undefined): boolean {
  return byte !== undefined && (byte & 0xc0) === 0x80;
}
