/** Real example webhook payloads (@octokit/webhooks-examples) and GitHub's signature scheme. */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { createRequire } from "node:module";

interface ExampleSet {
  name: string;
  examples: Record<string, unknown>[];
}
const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as ExampleSet[];

/** Every example of an event (and action), deep-copied so tests may edit them. */
export function examplePayloads(event: string, action?: string): Record<string, unknown>[] {
  const set = examples.find((e) => e.name === event);
  if (!set) throw new Error(`no examples for ${event}`);
  return set.examples
    .filter((p) => action === undefined || p.action === action)
    .map((p) => structuredClone(p));
}

/** The first example, with an installation (the examples of some events lack one). */
export function examplePayload(event: string, action?: string): Record<string, unknown> {
  const [first] = examplePayloads(event, action);
  if (!first) throw new Error(`no example of ${event}.${action}`);
  first.installation ??= { id: 1234, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMTIzNA==" };
  return first;
}

/** `X-Hub-Signature-256` of a body. */
export function sign(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A private key for a test App: Probot signs its JWTs with it (GitHub itself is simulated). */
export const testAppPrivateKey: string = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;
