/**
 * Pages go out compressed when the client accepts it: brotli or gzip, negotiated from
 * Accept-Encoding by `negotiator` (jshttp's, q-values included), the work done by Node's zlib off
 * the event loop. No middleware (`compression`): the UI is a plain node:http handler that always
 * holds the whole body as one string, so wrapping res.write would only add a layer.
 */
import type { IncomingHttpHeaders } from "node:http";
import { brotliCompress, constants, gzip } from "node:zlib";
import Negotiator from "negotiator";

export type Encoding = "br" | "gzip" | "identity";

/** Smaller bodies fit a packet or two: compressing them saves nothing worth the work. */
export const MIN_COMPRESS_BYTES = 1024;
/**
 * Brotli's default quality (11) took 2 s for a 1.6 MB matrix. At 4 the 782 KB worst-case matrix
 * takes ~9 ms and comes out about gzip's size; the usual matrix 7% smaller than gzip's
 * (bench/ui.bench.ts reports both).
 */
const BROTLI_QUALITY = 4;
const OFFERED: Encoding[] = ["br", "gzip", "identity"];

/** The encoding to send a body of `bytes` in: the client's most preferred of ours. */
export function chooseEncoding(headers: IncomingHttpHeaders, bytes: number): Encoding {
  if (bytes < MIN_COMPRESS_BYTES) return "identity";
  // negotiator 1.x takes our order for encodings the client weighs alike; @types/negotiator
  // (0.6) does not know the option yet.
  const encodings = Negotiator.prototype.encodings as unknown as (
    this: Negotiator,
    available: string[],
    options: { preferred: string[] },
  ) => string[];
  const [best] = encodings.call(new Negotiator({ headers }), OFFERED, { preferred: OFFERED });
  return OFFERED.find((e) => e === best) ?? "identity";
}

/** `body` in `encoding`; a compressor's error (out of memory, say) is passed on. */
export function encode(body: Buffer, encoding: Encoding): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
    if (encoding === "br")
      brotliCompress(
        body,
        {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        },
        done,
      );
    else if (encoding === "gzip") gzip(body, done);
    else resolve(body);
  });
}
