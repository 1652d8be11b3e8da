// biome-ignore-all lint/suspicious/noTemplateCurlyInString: mount sources as written use Compose's ${VAR} syntax.
import { describe, expect, it } from "vitest";
import type { AbsoluteMount } from "../../src/detect/compose.ts";
import { applyMountPolicy, mountAllowed, refusedMounts } from "../../src/plan/mountPolicy.ts";
import type { HostRef, TargetPlan } from "../../src/plan/plan.ts";

const mount = (source: string, extra: Partial<AbsoluteMount> = {}): AbsoluteMount => ({
  file: "stacks/a/compose.yaml",
  line: 5,
  col: 9,
  service: "web",
  source,
  ...extra,
});

describe("mountAllowed", () => {
  it("admits a root itself and paths below it, with or without a trailing slash on the root", () => {
    expect(mountAllowed(mount("/srv/data"), ["/srv/data"])).toBe(true);
    expect(mountAllowed(mount("/srv/data/x"), ["/srv/data/"])).toBe(true);
    expect(mountAllowed(mount("/srv/database"), ["/srv/data"])).toBe(false);
  });

  it("normalises the source first, so .. cannot climb out of a root", () => {
    expect(mountAllowed(mount("/srv/data/../../etc"), ["/srv/data"])).toBe(false);
    expect(mountAllowed(mount("/srv//data/./x"), ["/srv/data"])).toBe(true);
  });

  it("refuses home and Windows paths, and everything when no root is allowed", () => {
    expect(mountAllowed(mount("~/x"), ["/"])).toBe(false);
    expect(mountAllowed(mount("C:\\data"), ["/"])).toBe(false);
    expect(refusedMounts([mount("/srv/x")], [])).toHaveLength(1);
  });

  it("refuses an unresolved mount even where / is allowed", () => {
    expect(mountAllowed(mount("${ROOT}", { unresolved: ["${ROOT}"] }), ["/"])).toBe(false);
    expect(mountAllowed(mount("/etc"), ["/"])).toBe(true);
  });
});

describe("applyMountPolicy", () => {
  const targets: TargetPlan[] = [
    { host: "h1", action: "deploy", reasons: ["new stack"] },
    { host: "h2", action: "deploy", reasons: ["new stack"] },
    { host: "h3", action: "skip", reasons: ["unchanged"] },
    { host: "h4", action: "deploy", reasons: ["new stack"] },
  ];
  const hosts = new Map<string, HostRef>([
    ["h1", { name: "h1", labels: {}, allowedMountRoots: ["/srv"] }],
    ["h2", { name: "h2", labels: {}, allowedMountRoots: ["/"] }],
    ["h3", { name: "h3", labels: {}, allowedMountRoots: [] }],
    // h4 is not in the inventory with roots: deploy checks it.
    ["h4", { name: "h4", labels: {} }],
  ]);

  it("skips the deploys to hosts refusing a mount, with an error per mount and host at the mount", () => {
    const { targets: out, problems } = applyMountPolicy("a", [mount("/etc")], targets, hosts);
    expect(out.map((t) => [t.host, t.action])).toEqual([
      ["h1", "skip"],
      ["h2", "deploy"],
      ["h3", "skip"],
      ["h4", "deploy"],
    ]);
    expect(out[0]?.reasons).toEqual([
      "not deployed: service web mounts /etc, outside the allowed mount roots of h1 (/srv)",
    ]);
    expect(out[2]?.reasons).toEqual(["unchanged"]);
    expect(problems).toEqual([
      {
        file: "stacks/a/compose.yaml",
        line: 5,
        col: 9,
        key: "",
        message:
          'stack "a" is not deployed to h1: service web mounts /etc, outside the allowed mount roots of h1 (/srv)',
        severity: "error",
      },
    ]);
  });

  it("changes nothing when every mount is allowed", () => {
    const { targets: out, problems } = applyMountPolicy("a", [mount("/srv/x")], targets.slice(0, 2), hosts);
    expect(out).toEqual(targets.slice(0, 2));
    expect(problems).toEqual([]);
  });
});
