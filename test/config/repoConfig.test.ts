import { describe, expect, it } from "vitest";
import { parseHostsFile } from "../../src/config/hostsFile.ts";
import { formatProblem } from "../../src/config/problems.ts";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { didYouMean } from "../../src/config/yamlSource.ts";

const errorsOf = (text: string) => loadRepoConfig(text).problems.filter((p) => p.severity === "error");

describe("repo config", () => {
  it("applies defaults when the repository has no config file", () => {
    const { config, problems } = loadRepoConfig(undefined);
    expect(problems).toEqual([]);
    expect(config.discover.roots).toEqual(["stacks/*", "services/*"]);
    expect(config.stacks).toEqual([]);
  });

  it("accepts a full config", () => {
    const { config, problems } = loadRepoConfig(`
version: 1
discover: { roots: ["apps/*"] }
environments:
  production:
    hosts: [web-1, { role: edge }]
    deploy_on: merge
    requires: [approved]
    permission: admin
stacks:
  - name: web
    path: apps/web
    compose_files: [compose.yaml, ../shared/base.yaml]
    env_files: [prod.env]
    watch: ["shared/web/**"]
    environment: production
    project_name: web-prod
    prune: true
`);
    expect(problems).toEqual([]);
    expect(config.environments.production?.hosts).toEqual(["web-1", { role: "edge" }]);
    expect(config.stacks[0]?.project_name).toBe("web-prod");
  });

  it("reports an unknown key at its line and column with a did-you-mean", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    compose_file: [a.yaml]\n");
    expect(p).toMatchObject({ line: 3, col: 5, key: "stacks[0].compose_file" });
    expect(p?.message).toContain('did you mean "compose_files"');
    if (!p) throw new Error("no problem reported");
    expect(formatProblem(p)).toMatch(/^\.github\/stackpilot\.yml:3:5: error: unknown key "compose_file"/);
  });

  it("suggests the key a typo swapped two letters of", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    wacth: ['docs/**']\n");
    expect(p?.message).toBe('unknown key "wacth"; did you mean "watch"?');
  });

  it("reports a wrong type at the value's position with the key path", () => {
    const [p] = errorsOf("environments:\n  prod:\n    deploy_on: sometimes\n");
    expect(p).toMatchObject({ line: 3, col: 16, key: "environments.prod.deploy_on" });
  });

  it("reports YAML syntax errors with their position and runs nothing else", () => {
    const { problems } = loadRepoConfig("stacks:\n  - name: web\n   bad: [\n");
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]?.severity).toBe("error");
    expect(problems[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it("turns an alias bomb into a problem at its first alias, never an exception", () => {
    const levels = ["b", "c", "d", "e", "f", "g", "h"];
    const bomb = levels.map(
      (n, i) =>
        `${n}: &${n} [${Array(10)
          .fill(`*${i ? levels[i - 1] : "a"}`)
          .join(", ")}]`,
    );
    const text = `version: 1\nx-a: &a [x, x, x, x, x, x, x, x, x, x]\n${bomb.map((l) => `x-${l}`).join("\n")}\n`;
    const { problems } = loadRepoConfig(text);
    expect(problems).toEqual([
      expect.objectContaining({ file: ".github/stackpilot.yml", line: 3, col: 10, severity: "error" }),
    ]);
    expect(problems[0]?.message).toMatch(/^aliases and merge keys add \d+ nodes to the document/);
  });

  it("reports a duplicate key at the duplicate's line and column", () => {
    const [p] = errorsOf("version: 1\nstacks: []\nversion: 1\n");
    expect(p).toMatchObject({ line: 3, col: 1, message: 'duplicate key "version": map keys must be unique' });
  });

  it("rejects duplicate stack names, pointing at the second", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    path: a\n  - name: web\n    path: b\n");
    expect(p).toMatchObject({ line: 4, key: "stacks[1].name" });
    expect(p?.message).toContain("duplicate stack name");
  });

  it("rejects invalid compose project names", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    project_name: Web_App!\n");
    expect(p).toMatchObject({ line: 3, key: "stacks[0].project_name" });
  });

  it("rejects stack names with shell metacharacters", () => {
    const [p] = errorsOf('stacks:\n  - name: "web;rm -rf /"\n');
    expect(p).toMatchObject({ key: "stacks[0].name" });
  });

  it("rejects paths that escape the repository or are absolute", () => {
    const problems = errorsOf(
      "stacks:\n  - name: a\n    path: ../outside\n  - name: b\n    path: /etc\n    watch: ['x/../../y']\n",
    );
    expect(problems.map((p) => p.key)).toEqual(["stacks[0].path", "stacks[1].path", "stacks[1].watch[0]"]);
    expect(problems[0]?.message).toContain('".."');
    expect(problems[1]?.message).toContain("absolute path");
  });

  it("rejects a reference to an undefined environment", () => {
    const [p] = errorsOf("environments: { staging: {} }\nstacks:\n  - name: web\n    environment: prod\n");
    expect(p?.message).toBe('unknown environment "prod" (defined: staging)');
    expect(p?.line).toBe(4);
  });

  it("refuses a watch glob that could backtrack, at its line and column with the key path", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    watch: ['docs/**', '**/+(*a)*z']\n");
    expect(p).toMatchObject({ line: 3, col: 24, key: "stacks[0].watch[1]" });
    expect(p?.message).toMatch(/^invalid glob: extended globs such as "\+\(…\)" are not supported/);
  });

  it("refuses discovery roots with brace ranges or too many alternatives", () => {
    const problems = errorsOf(
      "discover:\n  roots:\n    - 'stacks/{1..9}'\n    - '{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}'\n",
    );
    expect(problems.map((p) => [p.key, p.line])).toEqual([
      ["discover.roots[0]", 3],
      ["discover.roots[1]", 4],
    ]);
    expect(problems[0]?.message).toContain("brace ranges");
    expect(problems[1]?.message).toContain("more than 256 alternatives");
  });

  it("names the expected forms when a union does not match", () => {
    const [p] = errorsOf("stacks:\n  - name: web\n    hosts: [42]\n");
    expect(p).toMatchObject({ key: "stacks[0].hosts[0]", line: 3 });
  });
});

describe("didYouMean", () => {
  it("counts a swap of neighbours as one edit and keeps plain edits", () => {
    expect(didYouMean("wacth", ["path", "watch"])).toBe("watch");
    expect(didYouMean("enviroment", ["environment", "env"])).toBe("environment");
    expect(didYouMean("prnue", ["prune", "path"])).toBe("prune");
    expect(didYouMean("xyzzy", ["path", "watch"])).toBeUndefined();
  });
});

describe("hosts file", () => {
  it("parses hosts with labels, keys and pinned host keys", () => {
    const { hosts, problems } = parseHostsFile(
      "hosts:\n  - name: h1\n    address: 10.0.0.1\n    labels: {role: app}\n    key: {env: SSH_KEY}\n    host_key: 'SHA256:Sf5lgv6p3cTpRJqG2o3B+gxzPMuxEH7Y7pV8vHb5Qx0'\n",
      "hosts.yml",
    );
    expect(problems).toEqual([]);
    expect(hosts[0]).toMatchObject({ name: "h1", port: 22, compose: "auto", labels: { role: "app" } });
  });

  it("warns about hosts without a pinned key and refuses unknown jump hosts", () => {
    const { problems } = parseHostsFile(
      "hosts:\n  - name: h1\n    address: x\n    jump: bastion\n",
      "hosts.yml",
    );
    expect(problems.map((p) => [p.severity, p.key])).toEqual([
      ["warning", "hosts[0]"],
      ["error", "hosts[0].jump"],
    ]);
  });

  it("rejects addresses with shell metacharacters", () => {
    const { problems } = parseHostsFile("hosts:\n  - name: h1\n    address: 'x; reboot'\n", "hosts.yml");
    expect(problems[0]).toMatchObject({ key: "hosts[0].address", line: 3, severity: "error" });
  });

  it("parses builders and registries whose passwords are references, never values", () => {
    const { hosts, registries, problems } = parseHostsFile(
      [
        "registries:",
        "  - name: main",
        "    address: registry.example.com:5000",
        "    username: ci",
        "    password: {env: REGISTRY_PASSWORD}",
        "hosts:",
        "  - name: b1",
        "    address: 10.0.0.9",
        "    builder: true",
        "    trust_on_first_use: true",
        "    registry_auth:",
        "      main: {username: b1, password: {file: /etc/stackpilot/b1.token}}",
        "",
      ].join("\n"),
      "hosts.yml",
    );
    expect(problems).toEqual([]);
    expect(registries).toEqual([
      {
        name: "main",
        address: "registry.example.com:5000",
        namespace: "stackpilot",
        username: "ci",
        password: { env: "REGISTRY_PASSWORD" },
        environments: [],
      },
    ]);
    expect(hosts[0]).toMatchObject({ builder: true, registry_auth: { main: { username: "b1" } } });
  });

  it("refuses a password written inline and an address that is not host[:port]", () => {
    const { problems } = parseHostsFile(
      [
        "registries:",
        "  - {name: a, address: r1.example.com, username: ci}",
        "  - {name: b, address: r2.example.com, password: hunter2}",
        "  - {name: a, address: 'r3; reboot'}",
        "",
      ].join("\n"),
      "hosts.yml",
    );
    expect(problems.map((p) => `${p.line}: ${p.key}: ${p.message}`)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3: registries\[1\]\.password: /),
        expect.stringMatching(/^4: registries\[2\]\.address: address must be host or host:port/),
      ]),
    );
    expect(problems.every((p) => p.severity === "error")).toBe(true);
  });

  it("refuses repos and registry environments globs it cannot match safely", () => {
    const { problems } = parseHostsFile(
      "hosts:\n  - name: a\n    address: a.test\n    repos: ['org/+(*a)*z']\nregistries:\n  - name: r\n    address: r.test\n    environments: ['{1..3}']\n",
      "hosts.yml",
    );
    expect(problems.filter((p) => p.severity === "error").map((p) => [p.key, p.line])).toEqual([
      ["hosts[0].repos[0]", 4],
      ["registries[0].environments[0]", 8],
    ]);
  });

  it("checks registry references once the file is otherwise valid", () => {
    const { problems } = parseHostsFile(
      [
        "registries:",
        "  - {name: a, address: r1.example.com, username: ci}",
        "  - {name: b, address: r2.example.com}",
        "  - {name: a, address: r3.example.com, environments: [prod]}",
        "hosts:",
        "  - name: h1",
        "    address: 10.0.0.1",
        "    trust_on_first_use: true",
        "    registry_auth: {nope: {username: u, password: {env: X}}}",
        "",
      ].join("\n"),
      "hosts.yml",
    );
    expect(problems.map((p) => `${p.line}: ${p.key}: ${p.message}`)).toEqual([
      '2: registries[0]: registry "a" has a username but no password',
      '3: registries[1].environments: registry "b" is a second default (no environments): give all but one an environments list',
      '4: registries[2].name: duplicate registry "a"',
      '9: hosts[0].registry_auth.nope: unknown registry "nope"',
    ]);
  });
});
