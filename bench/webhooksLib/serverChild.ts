/**
 * The server side of the webhook benchmark, in its own process so the load generator never shares
 * its event loop. `node serverChild.ts app|baseline`; configuration in the environment
 * (BENCH_SECRET, BENCH_PRIVATE_KEY, BENCH_DATA_DIR). Talks to the parent over IPC:
 *   -> {type: "ready", port}            once listening
 *   <- {type: "deliveries"}             -> {type: "deliveries", ids, rssKb, outbound, memory}
 *   <- {type: "mark", label}            takes a memory sample labelled so (e.g. "load start")
 *   <- {type: "stop"}                   closes the server (and the store), then exits
 *
 * - app: the real thing, `createServices(env, {worker: false})` + `startServer` (PGlite in the data dir).
 * - baseline: a minimal node:http server that reads the body, checks the signature (the same check
 *   as src/github/http.ts `validSignature`, copied so this process loads nothing of the app) and
 *   answers 200 (or 401): what the hardware and Node can do.
 */
import { createHmac, generateKeyPairSync, timingSafeEqual } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";

const mode = process.argv[2];
const secret = process.env.BENCH_SECRET ?? "bench-secret";
const send = (msg: unknown) => process.send?.(msg);

// Every outgoing TCP connection this process opens (the app must need none: PGlite is embedded,
// the worker is off, GitHub is never contacted). Recorded, reported by the parent.
const outbound: string[] = [];
diagnostics.subscribe("net.client.socket", (m) => {
  const socket = (m as { socket: Socket }).socket;
  socket.once("connect", () => outbound.push(`${socket.remoteAddress}:${socket.remotePort}`));
  outbound.push("(connecting)");
});

const WEBHOOK_PATH = "/api/github/webhooks";

/**
 * Memory once a second from the start of the process (peak RSS alone cannot tell a start-up spike
 * from growth under load): RSS, JS heap in use, and memory outside the heap (WASM memory,
 * buffers). Sampled on a timer, so a spike inside one synchronous call is seen only by rssKb.
 */
export interface MemorySample {
  t: number;
  label?: string;
  rss: number;
  heapUsed: number;
  external: number;
}
const memory: MemorySample[] = [];
const t0 = performance.now();
const sample = (label?: string) => {
  const m = process.memoryUsage();
  memory.push({
    t: performance.now() - t0,
    ...(label ? { label } : {}),
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
  });
};
sample("process start");
setInterval(() => sample(), 1000).unref();

/** As src/github/http.ts `validSignature`. */
function validSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let close: () => Promise<void>;
let deliveries: () => Promise<string[]> = async () => [];

if (mode === "app") {
  const dataDir = process.env.BENCH_DATA_DIR;
  if (!dataDir) throw new Error("BENCH_DATA_DIR is required");
  const privateKey =
    process.env.BENCH_PRIVATE_KEY ??
    generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;
  // Loaded here only, so the baseline process holds none of the app (Probot, PGlite, pg-boss).
  const { Probot } = await import("probot");
  const { createServices, parseEnv, startServer } = await import("../../src/github/server.ts");
  const services = await createServices(parseEnv({ STACKPILOT_DATA_DIR: dataDir, WEBHOOK_SECRET: secret }), {
    worker: false,
  });
  const server = await startServer(services, {
    probot: new Probot({ appId: 1, privateKey, secret }),
    secret,
  });
  deliveries = () => services.jobs.deliveries();
  close = async () => {
    await server.close();
    await services.stop();
  };
  sample("listening");
  send({ type: "ready", port: server.port });
} else if (mode === "baseline") {
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const signature = req.headers["x-hub-signature-256"];
    if ((req.url ?? "").split("?")[0] !== WEBHOOK_PATH || req.method !== "POST") {
      res.writeHead(404).end();
      return;
    }
    if (!validSignature(secret, body, typeof signature === "string" ? signature : undefined)) {
      res
        .writeHead(401, { "content-type": "application/json" })
        .end('{"error":"invalid or missing signature"}');
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  sample("listening");
  send({ type: "ready", port: typeof address === "object" && address ? address.port : 0 });
} else {
  throw new Error(`usage: serverChild.ts app|baseline (got ${mode})`);
}

process.on("message", (msg: { type: string; label?: string }) => {
  if (msg.type === "mark") sample(msg.label);
  else if (msg.type === "deliveries") {
    void deliveries().then((ids) =>
      send({ type: "deliveries", ids, rssKb: process.resourceUsage().maxRSS, outbound, memory }),
    );
  } else if (msg.type === "stop") {
    void close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
});
