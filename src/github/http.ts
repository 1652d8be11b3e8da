/**
 * The HTTP side of the app: the webhook endpoint and `/ping`. Signatures are checked here, before
 * Probot sees the request, so a bad or missing signature is a 401 with nothing read further and
 * nothing stored (Probot itself would answer 400).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type ApplicationFunction, createNodeMiddleware, type Probot } from "probot";

export const WEBHOOK_PATH = "/api/github/webhooks";
/** GitHub's payloads are far below this; a bigger body is refused before it is read whole. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;

export function validSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function createWebhookServer(opts: {
  appFn: ApplicationFunction;
  probot: Probot;
  secret: string;
}): Promise<Server> {
  const middleware = await createNodeMiddleware(opts.appFn, {
    probot: opts.probot,
    webhooksPath: WEBHOOK_PATH,
  });
  return createServer(async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/ping") {
      res.writeHead(200, { "content-type": "text/plain" }).end("PONG");
      return;
    }
    if (req.method !== "POST" || path !== WEBHOOK_PATH) {
      res.writeHead(404).end();
      return;
    }
    const body = await readBody(req);
    if (!body) {
      res.writeHead(413).end();
      return;
    }
    const signature = req.headers["x-hub-signature-256"];
    if (!validSignature(opts.secret, body, typeof signature === "string" ? signature : undefined)) {
      res
        .writeHead(401, { "content-type": "application/json" })
        .end('{"error":"invalid or missing signature"}');
      return;
    }
    // @octokit/webhooks takes a string body as the raw payload (it verifies the signature again).
    (req as IncomingMessage & { body?: string }).body = body.toString("utf8");
    await middleware(req, res, () => res.writeHead(404).end());
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
