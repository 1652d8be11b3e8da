/**
 * The hostile inputs of the trust issue, and a repository holding them: `clean` (100 stacks) and
 * `hostile` (the same plus every hostile input), for the benchmarks (hostile.bench.ts, the plan's
 * cost; ping.bench.ts, the App's answers while such a plan runs).
 */
import { execFileSync } from "node:child_process";

// The hostile inputs.
export const STARS_GLOB = `**/${"*a".repeat(509)}*z`;
export const PIECE_GLOB = `**/*${"a".repeat(1016)}?b*z`;
export const EXTGLOB = "**/+(*a)*z";
export const LONG_NAME = `hostile/${"a".repeat(4000)}`;
export const compose = (image: string) => `services:\n  app:\n    image: ${image}\n    env_file: [app.env]\n`;
export const mapping = (keys: number, width: number): string => {
  const lines = Array.from(
    { length: keys },
    (_, i) => `      label.${String(i).padStart(width, "0")}: value\n`,
  );
  return `services:\n  app:\n    image: big\n    labels:\n${lines.join("")}`;
};
/** ~1 MB (just within the limit): one 40,000-key mapping. */
export const bigMapping = () => mapping(40_000, 5);
/** ~2.5 MB, the issue's: one 100,000-key mapping. */
export const oversize = () => mapping(100_000, 6);
export const aliasHeavy = (): string => {
  const services = Array.from({ length: 1000 }, (_, i) => `  s${i}:\n    <<: *base\n    image: s${i}\n`);
  return `x-base: &base\n  env_file: [app.env]\n  restart: always\nservices:\n${services.join("")}`;
};
/** `services` of `n` entries, each extending the next (the last has the image), or all independent. */
export const serviceChain = (n: number, chained: boolean): string => {
  const lines = ["services:"];
  for (let i = 0; i < n - 1; i++)
    lines.push(
      `  s${i}:`,
      chained ? `    extends: s${i + 1}` : "    image: far-end:1",
      "    env_file: app.env",
    );
  lines.push(`  s${n - 1}:`, "    image: far-end:1");
  return `${lines.join("\n")}\n`;
};
export const deep = () => `services: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`;

/** A bare repository: a root commit, `clean` (100 stacks) on it, and `hostile` (the same plus the hostile inputs). */
export function makeHostileRepo(
  dir: string,
  texts: { big: string; aliases: string; deep: string },
  log: (s: string) => void = () => {},
) {
  execFileSync("git", ["init", "-q", "--bare", dir]);
  const files: Record<string, string> = {};
  for (let i = 0; i < 100; i++) {
    const s = `stacks/s${String(i).padStart(3, "0")}`;
    files[`${s}/compose.yaml`] = compose(`app${i}`);
    files[`${s}/app.env`] = `N=${i}\n`;
    files[`${s}/config/app.conf`] = `stack ${i}\n`;
  }
  const stacksConfig = "version: 1\nstacks:\n  - name: s000\n    watch: ['shared/**']\n";
  const hostileConfig = `version: 1\nstacks:\n  - name: s000\n    watch: ['shared/**', ${JSON.stringify(STARS_GLOB)}, ${JSON.stringify(PIECE_GLOB)}]\n`;
  const hostileFiles: Record<string, string> = {
    ".github/stackpilot.yml": hostileConfig,
    [LONG_NAME]: "x\n",
    [`${LONG_NAME}z`]: "x\n",
    "stacks/big/compose.yaml": texts.big,
    "stacks/aliases/compose.yaml": texts.aliases,
    "stacks/aliases/app.env": "A=1\n",
    "stacks/deep/compose.yaml": texts.deep,
    "stacks/oversize/compose.yaml": oversize(),
  };
  const commit = (ref: string, from: string | undefined, content: Record<string, string>) => {
    const parts = [`commit ${ref}\ncommitter Bench <bench@example.invalid> 0 +0000\ndata 5\nbench\n`];
    if (from) parts.push(`from ${from}\n`);
    for (const [path, text] of Object.entries(content)) {
      parts.push(`M 100644 inline ${path}\ndata ${Buffer.byteLength(text)}\n${text}\n`);
    }
    return parts.join("");
  };
  const stream = [
    commit("refs/heads/root", undefined, { "README.md": "bench\n" }),
    commit("refs/heads/clean", "refs/heads/root", { ...files, ".github/stackpilot.yml": stacksConfig }),
    commit("refs/heads/hostile", "refs/heads/clean", hostileFiles),
  ].join("");
  execFileSync("git", ["fast-import", "--quiet"], { cwd: dir, input: stream, maxBuffer: 1 << 26 });
  const sha = (ref: string) => execFileSync("git", ["rev-parse", ref], { cwd: dir, encoding: "utf8" }).trim();
  log(`repository: 100 stacks, hostile commit adds ${Object.keys(hostileFiles).length} files`);
  return { root: sha("root"), clean: sha("clean"), hostile: sha("hostile") };
}
