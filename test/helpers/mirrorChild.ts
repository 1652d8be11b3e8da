// Another process sharing the mirror directory: `node mirrorChild.ts <dir> <cloneUrl> <fullName> <token>`
// says "ready" on stderr, runs one ensure() and prints the mirror's HEAD commit (or the error) as JSON.
import { MirrorCache } from "../../src/git/mirror.ts";

const [dir, cloneUrl, fullName, token] = process.argv.slice(2) as [string, string, string, string];
process.stderr.write("ready\n");
try {
  const repo = await new MirrorCache({ dir, minIdleMs: 0, allowedOrigin: new URL(cloneUrl).origin }).ensure(
    { cloneUrl, fullName },
    { token },
  );
  process.stdout.write(JSON.stringify({ head: await repo.resolveCommit("refs/heads/main") }));
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err) }));
  process.exitCode = 1;
}
