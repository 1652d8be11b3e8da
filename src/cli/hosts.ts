/** `stackpilot hosts list|check`: what the hosts file says, and whether each host is ready. */
import { type HostConfig, loadHostsFile } from "../config/hostsFile.ts";
import { fingerprintOf, parsePin, pinFingerprint } from "../deploy/ssh/hostKeys.ts";
import { KnownHostsStore } from "../deploy/ssh/knownHosts.ts";
import { SshPool } from "../deploy/ssh/pool.ts";
import { checkHost, type HostCheck } from "../deploy/ssh/probe.ts";
import { compileGlob } from "../util/glob.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { table } from "./table.ts";

export const HOSTS_HELP = `Usage: stackpilot hosts <list|check> [options]

List the hosts of a hosts file, or check that each is reachable and ready to deploy to.

Subcommands:
  list              name, address, user, labels, key source, host key pin (pinned or TOFU)
  check             connect to every host in parallel and report: reachable (latency), host key
                    OK or mismatch (both fingerprints), docker version, compose command and
                    version, free disk space at the host's root

Options:
  --hosts FILE      hosts file (required)
  --host GLOB       only hosts matching (repeatable)
  --data DIR        data dir holding trust-on-first-use pins in DIR/known_hosts
                    (default: $STACKPILOT_DATA_DIR or .stackpilot)
  --timeout SECS    connect timeout per host (default: 10)
  --json            print one JSON object
  -h, --help        show this help

Exit status: 0 all hosts ok, 1 a host failed a check (every host is still reported) or
configuration errors, 2 usage error.
`;

export async function hostsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      hosts: { type: "string" },
      host: { type: "string", multiple: true },
      data: { type: "string" },
      timeout: { type: "string", default: "10" },
      json: { type: "boolean" },
    },
    true,
  );
  if (values.help) {
    io.out(HOSTS_HELP);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (sub !== "list" && sub !== "check")
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : "missing subcommand");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0))
    throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  const dataDir = values.data ?? process.env.STACKPILOT_DATA_DIR ?? ".stackpilot";

  const all = await loadHostsFile(values.hosts);
  const isMatch = values.host?.length ? compileGlob(values.host) : () => true;
  const selected = all.filter((h) => isMatch(h.name));
  if (values.host?.length && selected.length === 0)
    throw new UsageError(`no host in ${values.hosts} matches --host ${values.host.join(", ")}`);

  if (sub === "list") {
    const rows = await Promise.all(
      selected.map((h) => listRow(h, new KnownHostsStore(`${dataDir}/known_hosts`))),
    );
    if (values.json) io.out(`${JSON.stringify({ hosts: rows }, null, 2)}\n`);
    else io.out(table(["HOST", "ADDRESS", "USER", "LABELS", "KEY", "HOST KEY"], rows.map(listCells)));
    return 0;
  }

  const pool = new SshPool(all, { dataDir, readyTimeoutMs: timeoutS * 1000 });
  let checks: HostCheck[];
  try {
    checks = await Promise.all(selected.map((h) => checkHost(pool, h)));
  } finally {
    await pool.close();
  }
  const ok = checks.every((c) => c.ok);
  if (values.json) io.out(`${JSON.stringify({ ok, hosts: checks }, null, 2)}\n`);
  else io.out(renderChecks(checks));
  return ok ? 0 : 1;
}

interface ListRow {
  host: string;
  address: string;
  via?: string;
  user: string;
  labels: Record<string, string>;
  key: string;
  hostKey: { mode: "pinned" | "tofu" | "none"; fingerprint?: string; stored?: boolean };
}

async function listRow(h: HostConfig, store: KnownHostsStore): Promise<ListRow> {
  const key = !h.key ? "ssh-agent" : "file" in h.key ? `file ${h.key.file}` : `env ${h.key.env}`;
  let hostKey: ListRow["hostKey"];
  if (h.host_key) hostKey = { mode: "pinned", fingerprint: pinFingerprint(parsePin(h.host_key)) };
  else {
    const [stored] = await store.lookup(h.address, h.port).catch(() => []);
    const fp = stored ? { fingerprint: fingerprintOf(stored.blob), stored: true } : {};
    hostKey = { mode: h.trust_on_first_use ? "tofu" : "none", ...fp };
  }
  return {
    host: h.name,
    address: `${h.address}:${h.port}`,
    ...(h.jump ? { via: h.jump } : {}),
    user: h.user,
    labels: h.labels,
    key,
    hostKey,
  };
}

function listCells(r: ListRow): string[] {
  const hk = r.hostKey;
  const pin =
    hk.mode === "pinned"
      ? `pinned ${hk.fingerprint}`
      : hk.stored
        ? `TOFU, pinned ${hk.fingerprint}`
        : hk.mode === "tofu"
          ? "TOFU, not yet seen"
          : "none: connections refused";
  const labels = Object.entries(r.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return [r.host, `${r.address}${r.via ? ` via ${r.via}` : ""}`, r.user, labels || "-", r.key, pin];
}

function renderChecks(checks: HostCheck[]): string {
  const rows = checks.map((c) => [
    c.host,
    `${c.address}${c.via ? ` via ${c.via}` : ""}`,
    c.connectMs !== undefined ? `yes ${c.connectMs} ms` : c.reachable ? "yes" : "NO",
    c.hostKey.status === "ok"
      ? `OK ${c.hostKey.how === "first-use" ? "(pinned now) " : ""}${c.hostKey.fingerprint}`
      : c.hostKey.status === "mismatch"
        ? "MISMATCH"
        : c.hostKey.status === "unknown"
          ? "NOT PINNED"
          : "-",
    !c.docker ? "-" : "version" in c.docker ? c.docker.version : "FAILED",
    !c.compose ? "-" : "version" in c.compose ? `${c.compose.command} ${c.compose.version}` : "FAILED",
    !c.disk ? "-" : "availableKb" in c.disk ? `${formatKb(c.disk.availableKb)} at ${c.disk.path}` : "FAILED",
  ]);
  let out = table(["HOST", "ADDRESS", "REACHABLE", "HOST KEY", "DOCKER", "COMPOSE", "DISK FREE"], rows);
  const problems = checks.flatMap((c) => {
    // The connection error names both fingerprints on a mismatch.
    const lines = c.error ? [c.error] : [];
    for (const [what, r] of [
      ["docker", c.docker],
      ["compose", c.compose],
      ["disk", c.disk],
    ] as const)
      if (r && "error" in r) lines.push(`${what}: ${r.error}`);
    return lines.map((l) => `  ${c.host}: ${l}`);
  });
  if (problems.length) out += `\nProblems:\n${problems.join("\n")}\n`;
  const failed = checks.filter((c) => !c.ok).length;
  out += `\n${checks.length - failed} of ${checks.length} hosts ok${failed ? `, ${failed} failed` : ""}\n`;
  return out;
}

function formatKb(kb: number): string {
  if (kb >= 1024 * 1024) return `${(kb / 1024 / 1024).toFixed(1)} GiB`;
  if (kb >= 1024) return `${(kb / 1024).toFixed(0)} MiB`;
  return `${kb} KiB`;
}
