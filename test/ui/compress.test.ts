// Pages on the wire: brotli or gzip as the client's Accept-Encoding prefers, the same HTML once
// decoded, nothing compressed for a client that asks for none or a body too small to gain.
import { request } from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubHost } from "../../src/github/api/githubHost.ts";
import type { Store } from "../../src/state/store.ts";
import { chooseEncoding, MIN_COMPRESS_BYTES } from "../../src/ui/compress.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { startUi, TOKEN, type UiServer } from "./uiServer.ts";

const [pglite] = useStateBackends();
const BIG = MIN_COMPRESS_BYTES * 4;

describe("chooseEncoding", () => {
  const choose = (ae: string | undefined, bytes = BIG) =>
    chooseEncoding(ae === undefined ? {} : { "accept-encoding": ae }, bytes);

  it("prefers brotli, then gzip, among what the client accepts", () => {
    expect(choose("gzip, deflate, br")).toBe("br");
    expect(choose("gzip, deflate")).toBe("gzip");
    expect(choose("deflate")).toBe("identity");
  });

  it("honours the client's q-values, q=0 refusing an encoding", () => {
    expect(choose("br;q=0.5, gzip")).toBe("gzip");
    expect(choose("br;q=0, gzip;q=0.1")).toBe("gzip");
    expect(choose("*;q=0.2, br;q=0")).toBe("gzip");
  });

  it("sends as is to a client that names no encoding, and bodies too small to gain", () => {
    expect(choose(undefined)).toBe("identity");
    expect(choose("")).toBe("identity");
    expect(choose("br, gzip", MIN_COMPRESS_BYTES - 1)).toBe("identity");
  });
});

describe("a page on the wire", () => {
  let store: Store;
  let ui: UiServer;
  beforeAll(async () => {
    store = await (pglite as NonNullable<typeof pglite>).openStore();
    for (let s = 0; s < 50; s++)
      await store.setDeployed({
        repo: "acme/infra",
        stack: `stack-${s}`,
        host: "h1",
        fingerprint: "f",
        commit: "0123456789abcdef0123456789abcdef01234567",
      });
    ui = await startUi({ store, github: githubHost({}) });
  });
  afterAll(async () => {
    await ui.close();
  });

  /** The raw response (fetch would decode it). */
  const raw = (acceptEncoding?: string) =>
    new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(
        `${ui.url}/ui`,
        {
          headers: {
            authorization: `Bearer ${TOKEN}`,
            accept: "text/html",
            ...(acceptEncoding ? { "accept-encoding": acceptEncoding } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.end();
    });

  it("sends the matrix brotli- or gzip-compressed as asked, the same HTML once decoded", async () => {
    const plain = await raw();
    expect(plain.headers["content-encoding"]).toBeUndefined();
    const html = plain.body.toString("utf8");
    expect(html).toContain("stack-49");
    expect(plain.headers.vary).toBe("Accept-Encoding");

    const br = await raw("gzip, br");
    expect(br.headers["content-encoding"]).toBe("br");
    expect(Number(br.headers["content-length"])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(plain.body.length / 3);
    expect(brotliDecompressSync(br.body).toString("utf8")).toBe(html);

    const gz = await raw("gzip");
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gz.body).toString("utf8")).toBe(html);
    expect(gz.headers["content-security-policy"]).toBe(plain.headers["content-security-policy"]);
  });
});
