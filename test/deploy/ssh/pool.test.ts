// SshPool against in-process servers (ssh2's own Server, and raw TCP that misbehaves): the failure
// paths that are hard to provoke on real hosts, without root. test/e2e/ssh.test.ts covers OpenSSH.
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2, { type ServerChannel } from "ssh2";
import { afterEach, describe, expect, it } from "vitest";
import { type HostConfig, HostSchema } from "../../../src/config/hostsFile.ts";
import {
  AuthError,
  CommandTimeoutError,
  ConnectionLostError,
  SshError,
  UnreachableError,
} from "../../../src/deploy/ssh/errors.ts";
import { fingerprintOf } from "../../../src/deploy/ssh/hostKeys.ts";
import { SshPool, type SshPoolOptions } from "../../../src/deploy/ssh/pool.ts";
import { checkHost } from "../../../src/deploy/ssh/probe.ts";

const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
const clientKey = ssh2.utils.generateKeyPairSync("ed25519");
const hostBlob = (ssh2.utils.parseKey(hostKey.public) as ssh2.ParsedKey).getPublicSSH();

interface FakeSsh {
  port: number;
  /** Successful logins so far. */
  logins: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

type Behaviour = (stream: ServerChannel, fake: FakeSsh) => void;

const behaviours: Record<string, Behaviour> = {
  ok: (s) => {
    s.write("out\n");
    s.stderr.write("err\n");
    s.exit(3);
    s.end();
  },
  "no-exit": (s) => s.close(),
  hang: () => {},
  drop: (s, fake) => {
    s.write("partial\n");
    setTimeout(() => {
      for (const sock of fake.sockets) sock.destroy();
    }, 50);
  },
  // The host dies: it stops listening, then its connections go.
  die: (s, fake) => {
    s.write("partial\n");
    setTimeout(() => void fake.close(), 50);
  },
  "count-stdin": (s) => {
    let n = 0;
    s.on("data", (d: Buffer) => {
      n += d.length;
    });
    s.on("end", () => {
      s.write(`${n}\n`);
      s.exit(0);
      s.end();
    });
  },
};

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function listen(server: NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

async function fakeSsh(opts: { acceptAuth?: boolean } = {}): Promise<FakeSsh> {
  const fake: FakeSsh = { port: 0, logins: 0, sockets: new Set(), close: async () => {} };
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (client) => {
    // The raw TCP socket, to drop the connection the hard way.
    const sock = (client as unknown as { _sock: Socket })._sock;
    sock.setNoDelay(true);
    fake.sockets.add(sock);
    sock.on("close", () => fake.sockets.delete(sock));
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      if (opts.acceptAuth !== false && ctx.method === "publickey") ctx.accept();
      else ctx.reject(["publickey"]);
    });
    client.on("ready", () => {
      fake.logins++;
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          (behaviours[info.command] ?? behaviours.ok)?.(stream, fake);
        });
      });
    });
  });
  fake.port = await listen(server);
  fake.close = () =>
    new Promise<void>((r) => {
      for (const s of fake.sockets) s.destroy();
      server.close(() => r());
    });
  closers.push(fake.close);
  return fake;
}

const host = (port: number, over: Record<string, unknown> = {}): HostConfig =>
  HostSchema.parse({
    name: "fake",
    address: "127.0.0.1",
    port,
    user: "deploy",
    key: { env: "FAKE_KEY" },
    host_key: fingerprintOf(hostBlob),
    ...over,
  });

function pool(hosts: HostConfig[], opts: SshPoolOptions = {}) {
  const p = new SshPool(hosts, { env: { FAKE_KEY: clientKey.private }, readyTimeoutMs: 2_000, ...opts });
  closers.push(() => p.close());
  return p;
}

describe("SshPool (in-process servers)", () => {
  it("runs commands on one shared connection", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)]);
    const results = await Promise.all(Array.from({ length: 10 }, () => p.exec("fake", "ok")));
    for (const r of results) expect(r).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect(fake.logins).toBe(1);
    expect(p.stats("fake")).toMatchObject({ connects: 1, inFlight: 0, queued: 0 });
  });

  it("streams stdin and counts it on the other side", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)]);
    const res = await p.exec("fake", "count-stdin", { stdin: Buffer.alloc(3 * 1024 * 1024 + 7) });
    expect(res.stdout).toBe(`${3 * 1024 * 1024 + 7}\n`);
  });

  it("times out a command that never ends, within timeout + grace, keeping the connection", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)], { killGraceMs: 200 });
    const t0 = Date.now();
    const err = await p.exec("fake", "hang", { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - t0).toBeLessThan(2_000);
    // ssh2's Server drops signal requests once exec started, so the signals themselves are checked
    // against OpenSSH in test/e2e/ssh.test.ts; here: the timeout ends the call and the connection survives.
    expect((await p.exec("fake", "ok")).code).toBe(3);
    expect(p.stats("fake").connects).toBe(1);
  });

  it("times out a command whose call names no limit after the pool's default", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)], { killGraceMs: 100, commandTimeoutMs: 150 });
    const t0 = Date.now();
    const err = await p.exec("fake", "hang").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(err).toMatchObject({ timeoutMs: 150 });
    expect(Date.now() - t0).toBeLessThan(2_000);
    // A call's own limit still wins.
    const own = await p.exec("fake", "hang", { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(own).toMatchObject({ timeoutMs: 50 });
  });

  it("errors when the host drops the connection mid-command, then reconnects for the next one", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)]);
    const chunks: string[] = [];
    const err = await p.exec("fake", "drop", { onData: (c) => chunks.push(c) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(/^connection to fake was lost while the command ran/);
    expect(chunks).toEqual(["partial\n"]);
    expect((await p.exec("fake", "ok")).code).toBe(3);
    expect(p.stats("fake").connects).toBe(2);
  });

  it("a host that dies mid-command: that command is lost, the next is unreachable, nothing left unhandled", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const fake = await fakeSsh();
      const p = pool([host(fake.port)]);
      expect(await p.exec("fake", "die").catch((e: unknown) => e)).toBeInstanceOf(ConnectionLostError);
      const next = await p.exec("fake", "ok").catch((e: unknown) => e);
      expect(next).toBeInstanceOf(UnreachableError);
      expect((next as Error).message).toMatch(/connection refused/);
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
      expect(p.stats("fake")).toMatchObject({ connects: 1, connected: false });
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("errors when the host closes the channel without an exit status", async () => {
    const fake = await fakeSsh();
    const err = await pool([host(fake.port)])
      .exec("fake", "no-exit")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toBe("fake closed the channel without an exit status");
  });

  it("maps a refused key to AuthError", async () => {
    const fake = await fakeSsh({ acceptAuth: false });
    const err = await pool([host(fake.port)])
      .exec("fake", "ok")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toBe("fake refused the key for user deploy");
  });

  it("maps a closed port to UnreachableError", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((r) => server.close(r));
    const err = await pool([host(port)])
      .exec("fake", "ok")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toBe(
      `fake (127.0.0.1:${port}) is unreachable: connection refused (ECONNREFUSED)`,
    );
  });

  it("maps a name that does not resolve to UnreachableError", async () => {
    const err = await pool([host(22, { address: "no-such-host.invalid" })])
      .exec("fake", "ok")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    // No resolver in a sandbox means a timeout instead of NXDOMAIN; both name the host.
    expect((err as Error).message).toMatch(
      /^fake \(no-such-host\.invalid:22\) is unreachable: (DNS lookup failed|no SSH handshake)/,
    );
  });

  it("never hangs on a host that accepts and says nothing, or talks garbage", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    const garbage = createServer((s) => {
      sockets.add(s);
      s.write(`${"\x00\xff garbage ".repeat(2000)}\r\n`);
    });
    const mid = createServer((s) => {
      sockets.add(s);
      s.write("SSH-2.0-OpenSSH_9.2\r\n");
      s.on("data", () => s.write(Buffer.alloc(64, 0xab)));
    });
    const ports = [await listen(silent), await listen(garbage), await listen(mid)];
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      for (const srv of [silent, garbage, mid]) srv.close();
    });
    const p = pool(
      ports.map((port, i) => host(port, { name: `s${i}` })),
      { readyTimeoutMs: 800 },
    );
    const t0 = Date.now();
    const errs = await Promise.all(ports.map((_, i) => p.exec(`s${i}`, "ok").catch((e: unknown) => e)));
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(errs[0]).toBeInstanceOf(UnreachableError);
    expect((errs[0] as Error).message).toContain("no SSH handshake within 800 ms");
    for (const [i, e] of errs.entries()) {
      expect(e).toBeInstanceOf(SshError);
      expect(e).toMatchObject({ host: `s${i}` });
    }
  });

  it("checks a host as reachable only when an SSH server answered: a refused key yes; silence, garbage, a closed port no", async () => {
    const refusing = await fakeSsh({ acceptAuth: false });
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    const garbage = createServer((s) => {
      sockets.add(s);
      s.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    const closed = createServer();
    const ports = [refusing.port, await listen(silent), await listen(garbage), await listen(closed)];
    await new Promise((r) => closed.close(r));
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      silent.close();
      garbage.close();
    });
    const hosts = ports.map((port, i) => host(port, { name: `c${i}` }));
    const p = pool(hosts, { readyTimeoutMs: 800 });
    const checks = await Promise.all(hosts.map((h) => checkHost(p, h)));
    expect(checks.map((c) => [c.host, c.ok, c.reachable])).toEqual([
      ["c0", false, true],
      ["c1", false, false],
      ["c2", false, false],
      ["c3", false, false],
    ]);
    expect(checks[0]?.error).toBe("c0 refused the key for user deploy");
  });

  it("rejects unknown hosts and use after close", async () => {
    const fake = await fakeSsh();
    const p = pool([host(fake.port)]);
    await expect(p.exec("nope", "ok")).rejects.toThrow('unknown host "nope"');
    await p.close();
    await expect(p.exec("fake", "ok")).rejects.toThrow(/closed/);
  });
});
