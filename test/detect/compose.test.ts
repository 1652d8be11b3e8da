// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML under test uses Compose's ${VAR} syntax.
import { describe, expect, it } from "vitest";
import {
  type ComposeFileInfo,
  type ComposeRef,
  collectComposeInputs,
  parseComposeFile,
} from "../../src/detect/compose.ts";

/** One YAML line per argument, so expected line numbers can be read off the test. */
const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;

const FILE = "stacks/web/compose.yaml";

const refsOf = (info: ComposeFileInfo, kind?: ComposeRef["kind"]) =>
  info.refs.filter((r) => kind === undefined || r.kind === kind);
const pathsOf = (info: ComposeFileInfo, kind?: ComposeRef["kind"]) => refsOf(info, kind).map((r) => r.path);
const errors = (info: ComposeFileInfo) => info.problems.filter((p) => p.severity === "error");
const warnings = (info: ComposeFileInfo) => info.problems.filter((p) => p.severity === "warning");

/** In-memory repository for collectComposeInputs. */
const reader = (files: Record<string, string>) => (path: string) => files[path];

describe("parseComposeFile: env_file", () => {
  it("resolves a string env_file relative to the compose file with its position", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    image: nginx", "    env_file: app.env"),
    );
    expect(refsOf(info)).toEqual([
      { kind: "env_file", path: "stacks/web/app.env", from: FILE, line: 4, col: 15, service: "web" },
    ]);
    expect(info.problems).toEqual([]);
  });

  it("reads the list form with strings and {path, required}, marking required: false optional", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    env_file:",
        "      - ./base.env",
        "      - path: ./local.env",
        "        required: false",
        "      - path: ./prod.env",
        "        required: true",
      ),
    );
    expect(refsOf(info, "env_file")).toEqual([
      { kind: "env_file", path: "stacks/web/base.env", from: FILE, line: 4, col: 9, service: "web" },
      {
        kind: "env_file",
        path: "stacks/web/local.env",
        from: FILE,
        line: 5,
        col: 15,
        service: "web",
        optional: true,
      },
      { kind: "env_file", path: "stacks/web/prod.env", from: FILE, line: 7, col: 15, service: "web" },
    ]);
  });

  it("follows paths outside the stack directory to their repo-relative location", () => {
    const info = parseComposeFile(FILE, yaml("services:", "  web:", "    env_file: ../../shared/app.env"));
    expect(pathsOf(info, "env_file")).toEqual(["shared/app.env"]);
  });

  it("reports a path escaping the repository as an error at its position and drops it", () => {
    const info = parseComposeFile(FILE, yaml("services:", "  web:", "    env_file: ../../../etc/app.env"));
    expect(refsOf(info)).toEqual([]);
    expect(errors(info)).toEqual([
      {
        file: FILE,
        line: 3,
        col: 15,
        key: "services.web.env_file",
        message: expect.stringContaining("outside the repository"),
        severity: "error",
      },
    ]);
  });

  it("warns about an env_file URL or absolute path instead of treating it as a repo file", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    env_file: [https://example.com/x.env, /etc/app.env]"),
    );
    expect(refsOf(info)).toEqual([]);
    expect(warnings(info).map((p) => p.key)).toEqual([
      "services.web.env_file[0]",
      "services.web.env_file[1]",
    ]);
  });
});

describe("parseComposeFile: build", () => {
  it("turns `build: <dir>` into a context ref plus the default Dockerfile in it", () => {
    const info = parseComposeFile(FILE, yaml("services:", "  api:", "    build: ./api"));
    expect(refsOf(info)).toEqual([
      { kind: "build_context", path: "stacks/web/api", from: FILE, line: 3, col: 12, service: "api" },
      { kind: "dockerfile", path: "stacks/web/api/Dockerfile", from: FILE, line: 3, col: 12, service: "api" },
    ]);
    expect(info.services).toEqual([
      {
        name: "api",
        healthcheck: false,
        build: { context: "stacks/web/api", dockerfile: "stacks/web/api/Dockerfile", local: true },
      },
    ]);
  });

  it("resolves dockerfile relative to the context and watches its .dockerignore when outside the context", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  api:",
        "    build:",
        "      context: ../../apps/api",
        "      dockerfile: ../../docker/api.Dockerfile",
        "      args:",
        "        VERSION: 1.2",
        "        FROM_ENV:",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "build_context", path: "apps/api", from: FILE, line: 4, col: 16, service: "api" },
      { kind: "dockerfile", path: "docker/api.Dockerfile", from: FILE, line: 5, col: 19, service: "api" },
      {
        kind: "dockerfile",
        path: "docker/api.Dockerfile.dockerignore",
        from: FILE,
        line: 5,
        col: 19,
        service: "api",
        optional: true,
      },
    ]);
    expect(info.services[0]?.build).toEqual({
      context: "apps/api",
      dockerfile: "docker/api.Dockerfile",
      args: { VERSION: "1.2" },
      local: true,
    });
  });

  it("defaults the context to the compose file's directory and reads list-form args", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  api:",
        "    build:",
        "      args:",
        "        - A=1",
        "        - B=x=y",
        "        - C",
      ),
    );
    expect(pathsOf(info)).toEqual(["stacks/web", "stacks/web/Dockerfile"]);
    expect(info.services[0]?.build?.args).toEqual({ A: "1", B: "x=y" });
  });

  it("has no Dockerfile ref when dockerfile_inline is used", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  api:", "    build:", "      context: .", "      dockerfile_inline: FROM alpine"),
    );
    expect(pathsOf(info, "dockerfile")).toEqual([]);
    expect(pathsOf(info, "build_context")).toEqual(["stacks/web"]);
    expect(info.services[0]?.build).toEqual({ context: "stacks/web", local: true, inline: true });
  });

  it.each([
    "https://github.com/acme/api.git#main",
    "git@github.com:acme/api.git",
    "github.com/acme/api",
    "git://example.com/api.git",
  ])("treats the remote context %s as not local", (url) => {
    const info = parseComposeFile(FILE, yaml("services:", "  api:", "    build:", `      context: ${url}`));
    expect(refsOf(info)).toEqual([]);
    expect(info.problems).toEqual([]);
    expect(info.services[0]?.build?.context).toBe(url);
    expect(info.services[0]?.build?.local).toBe(false);
  });

  it("keeps the build target and network, which the builder passes on", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  api:",
        "    build:",
        "      context: .",
        "      target: prod",
        "      network: none",
      ),
    );
    expect(info.services[0]?.build).toMatchObject({ context: "stacks/web", target: "prod", network: "none" });
  });

  it("follows local additional_contexts but not images, services or URLs", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  api:",
        "    build:",
        "      context: .",
        "      dockerfile_inline: FROM alpine",
        "      additional_contexts:",
        "        shared: ../../libs/shared",
        "        base: docker-image://alpine:3",
        "        other: service:worker",
        "        remote: https://example.com/ctx.tar",
      ),
    );
    expect(refsOf(info, "build_context")).toEqual([
      { kind: "build_context", path: "stacks/web", from: FILE, line: 4, col: 16, service: "api" },
      { kind: "build_context", path: "libs/shared", from: FILE, line: 7, col: 17, service: "api" },
    ]);
  });
});

describe("parseComposeFile: extends and include", () => {
  it("records extends.file relative to the referencing file, and same-file extends without a ref, each with the position of extends", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    extends:",
        "      file: ../common/base.yaml",
        "      service: webbase",
        "  worker:",
        "    extends: web",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "extends", path: "stacks/common/base.yaml", from: FILE, line: 4, col: 13, service: "web" },
    ]);
    expect(info.services.map((s) => s.extends)).toEqual([
      { service: "webbase", file: "stacks/common/base.yaml", line: 4, col: 7 },
      { service: "web", file: FILE, line: 7, col: 14 },
    ]);
  });

  it("reads include as strings and as {path list, project_directory, env_file}", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "include:",
        "  - ../db/compose.yaml",
        "  - path:",
        "      - ../../infra/proxy.yaml",
        "      - ../../infra/proxy.override.yaml",
        "    project_directory: ../../infra/proxy",
        "    env_file: ../../infra/proxy.env",
      ),
    );
    expect(refsOf(info)).toEqual([
      {
        kind: "include",
        path: "stacks/db/compose.yaml",
        from: FILE,
        line: 2,
        col: 5,
        projectDirectory: "stacks/db",
      },
      // The included project reads the .env of its own directory.
      { kind: "dotenv", path: "stacks/db/.env", from: FILE, line: 2, col: 5, optional: true },
      {
        kind: "include",
        path: "infra/proxy.yaml",
        from: FILE,
        line: 4,
        col: 9,
        projectDirectory: "infra/proxy",
        envFiles: ["infra/proxy.env"],
      },
      {
        kind: "include",
        path: "infra/proxy.override.yaml",
        from: FILE,
        line: 5,
        col: 9,
        projectDirectory: "infra/proxy",
        envFiles: ["infra/proxy.env"],
      },
      { kind: "env_file", path: "infra/proxy.env", from: FILE, line: 7, col: 15 },
    ]);
  });
});

describe("parseComposeFile: volumes", () => {
  it("turns relative short-syntax sources into bind_mount refs and skips named and anonymous volumes", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    volumes:",
        "      - ./src:/dst:ro",
        "      - ../x:/y",
        "      - .:/app",
        "      - data:/var/lib/data",
        "      - /cache",
        "volumes:",
        "  data:",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "bind_mount", path: "stacks/web/src", from: FILE, line: 4, col: 9, service: "web" },
      { kind: "bind_mount", path: "stacks/x", from: FILE, line: 5, col: 9, service: "web" },
      { kind: "bind_mount", path: "stacks/web", from: FILE, line: 6, col: 9, service: "web" },
    ]);
    expect(info.absoluteMounts).toEqual([]);
    expect(info.problems).toEqual([]);
  });

  it("puts absolute, home and Windows sources in absoluteMounts, not refs", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    volumes:",
        "      - /var/run/docker.sock:/var/run/docker.sock",
        "      - ~/.ssh:/root/.ssh:ro",
        "      - C:\\data:/data",
        "      - type: bind",
        "        source: /srv/www",
        "        target: /www",
      ),
    );
    expect(refsOf(info)).toEqual([]);
    expect(info.absoluteMounts).toEqual([
      { file: FILE, line: 4, col: 9, service: "web", source: "/var/run/docker.sock" },
      { file: FILE, line: 5, col: 9, service: "web", source: "~/.ssh" },
      { file: FILE, line: 6, col: 9, service: "web", source: "C:\\data" },
      { file: FILE, line: 8, col: 17, service: "web", source: "/srv/www" },
    ]);
  });

  it("follows long-syntax bind sources (even without ./) but not other volume types", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    volumes:",
        "      - type: bind",
        "        source: conf",
        "        target: /etc/app",
        "      - type: volume",
        "        source: data",
        "        target: /data",
        "      - type: tmpfs",
        "        target: /tmp",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "bind_mount", path: "stacks/web/conf", from: FILE, line: 5, col: 17, service: "web" },
    ]);
  });

  it("treats a local-driver volume with o: bind as a bind mount of its device", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "volumes:",
        "  site:",
        "    driver: local",
        "    driver_opts: {type: none, o: bind, device: ./site}",
        "  host:",
        "    driver_opts: {type: none, o: bind, device: /srv/host}",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "bind_mount", path: "stacks/web/site", from: FILE, line: 4, col: 48 },
    ]);
    expect(info.absoluteMounts).toEqual([{ file: FILE, line: 6, col: 48, service: "", source: "/srv/host" }]);
  });
});

describe("parseComposeFile: configs and secrets", () => {
  it("turns top-level file-based configs and secrets into refs and ignores the other forms", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "configs:",
        "  nginx:",
        "    file: ./nginx.conf",
        "  inline:",
        "    content: hello",
        "secrets:",
        "  db_password:",
        "    file: ../../secrets/db.txt",
        "  token:",
        "    environment: TOKEN",
        "  ext:",
        "    external: true",
      ),
    );
    expect(refsOf(info)).toEqual([
      { kind: "config", path: "stacks/web/nginx.conf", from: FILE, line: 3, col: 11 },
      { kind: "secret", path: "secrets/db.txt", from: FILE, line: 8, col: 11 },
    ]);
  });

  it("reports an absolute secret file as an absolute mount, since Compose bind-mounts it", () => {
    const info = parseComposeFile(FILE, yaml("secrets:", "  key:", "    file: /etc/ssl/private/key.pem"));
    expect(refsOf(info)).toEqual([]);
    expect(info.absoluteMounts).toEqual([
      { file: FILE, line: 3, col: 11, service: "", source: "/etc/ssl/private/key.pem" },
    ]);
  });
});

describe("parseComposeFile: interpolation", () => {
  it("uses the defaults of ${VAR:-default} and ${VAR-default}, nested ones included", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    env_file:",
        "      - ${ENV_FILE:-./default.env}",
        "      - ./${STAGE-dev}.env",
        "      - ${A:-${B:-./nested.env}}",
        "    volumes:",
        "      - ${DATA_DIR:-./data}:/data",
      ),
    );
    expect(pathsOf(info)).toEqual([
      "stacks/web/default.env",
      "stacks/web/dev.env",
      "stacks/web/nested.env",
      "stacks/web/data",
    ]);
    expect(info.problems).toEqual([]);
  });

  it("reads $$ as a literal dollar sign", () => {
    const info = parseComposeFile(FILE, yaml("services:", "  web:", "    env_file: ./price$$list.env"));
    expect(pathsOf(info)).toEqual(["stacks/web/price$list.env"]);
  });

  it("does not follow a path with an unresolved variable and warns naming the key", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    env_file: ./${STAGE}.env",
        "    build: ${CONTEXT:?context required}",
        "    volumes:",
        "      - ${HOST_DIR}:/data",
        "      - ./logs:${LOG_DIR}",
      ),
    );
    // An unresolved target does not matter: the source is still a known path.
    expect(pathsOf(info)).toEqual(["stacks/web/logs"]);
    expect(warnings(info).map((p) => [p.key, p.line, p.col])).toEqual([
      ["services.web.env_file", 3, 15],
      ["services.web.volumes[0]", 6, 9],
      ["services.web.build", 4, 12],
    ]);
    expect(warnings(info)[0]?.message).toContain("${STAGE}");
  });
});

describe("parseComposeFile: services and names", () => {
  it("reports service names with shell metacharacters as errors at the name and withholds the service", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  ok-1.a_b:",
        "    image: a",
        '  "web; rm -rf /":',
        "    image: b",
        "  $(id):",
        "    image: c",
      ),
    );
    expect(info.services.map((s) => s.name)).toEqual(["ok-1.a_b"]);
    expect(errors(info).map((p) => [p.key, p.line, p.col])).toEqual([
      ["services.web; rm -rf /", 4, 3],
      ["services.$(id)", 6, 3],
    ]);
  });

  it("accepts a valid project name and rejects an invalid one", () => {
    expect(parseComposeFile(FILE, yaml("name: my_app-2")).projectName).toBe("my_app-2");
    expect(parseComposeFile(FILE, yaml("name: ${PROJECT:-fallback}")).projectName).toBe("fallback");
    const bad = parseComposeFile(FILE, yaml("services: {}", "name: My App;"));
    expect(bad.projectName).toBeUndefined();
    expect(errors(bad)).toEqual([
      {
        file: FILE,
        line: 2,
        col: 7,
        key: "name",
        message: expect.stringContaining("invalid project name"),
        severity: "error",
      },
    ]);
  });

  it("reports image and whether an enabled healthcheck is defined", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  a:",
        "    image: nginx:${TAG:-1}",
        "    healthcheck: {test: [CMD, curl, -f, http://localhost]}",
        "  b:",
        "    image: redis",
        "    healthcheck: {test: [CMD, /bin/true], disable: true}",
        "  c:",
        "    image: redis",
        "    healthcheck: {test: [NONE]}",
        "  d:",
        "    image: redis",
      ),
    );
    expect(info.services).toEqual([
      { name: "a", image: "nginx:${TAG:-1}", healthcheck: true },
      { name: "b", image: "redis", healthcheck: false },
      { name: "c", image: "redis", healthcheck: false },
      { name: "d", image: "redis", healthcheck: false },
    ]);
  });

  it("follows keys merged in with YAML anchors and points at the anchor's definition", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "x-common: &common",
        "  env_file: common.env",
        "services:",
        "  a:",
        "    <<: *common",
        "    image: a",
        "  b:",
        "    <<: *common",
        "    env_file: b.env",
      ),
    );
    expect(refsOf(info).map((r) => [r.service, r.path, r.line, r.col])).toEqual([
      ["a", "stacks/web/common.env", 2, 13],
      ["b", "stacks/web/b.env", 9, 15],
    ]);
  });

  it("accepts Compose's !reset and !override tags without warnings", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "services:",
        "  web:",
        "    volumes: !reset []",
        "    env_file: !override ./prod.env",
        "    build: !reset null",
      ),
    );
    expect(info.problems).toEqual([]);
    expect(pathsOf(info)).toEqual(["stacks/web/prod.env"]);
  });
});

describe("parseComposeFile: malformed input", () => {
  it("reports `services: 5` at the value", () => {
    const info = parseComposeFile(FILE, yaml("name: web", "services: 5"));
    expect(info.problems).toEqual([
      {
        file: FILE,
        line: 2,
        col: 11,
        key: "services",
        message: "expected a mapping, got a number",
        severity: "error",
      },
    ]);
  });

  it("reports a volume that is a number at the list item and keeps the valid siblings", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    volumes:", "      - ./a:/a", "      - 42", "      - ./b:/b"),
    );
    expect(pathsOf(info)).toEqual(["stacks/web/a", "stacks/web/b"]);
    expect(info.problems).toEqual([
      {
        file: FILE,
        line: 5,
        col: 9,
        key: "services.web.volumes[1]",
        message: "expected a string or a mapping, got a number",
        severity: "error",
      },
    ]);
  });

  it("points nested shape errors at the offending key, and missing keys at their parent", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "include:",
        "  - 7",
        "services:",
        "  web:",
        "    build:",
        "      context: [a]",
        "    extends:",
        "      file: base.yaml",
        "    env_file: {path: x}",
        "    volumes:",
        "      - {source: ./a, target: /a}",
        "  db:",
        "  cache: [redis]",
      ),
    );
    expect(info.problems.map((p) => [p.key, p.line, p.col, p.message])).toEqual([
      ["include[0]", 2, 5, "expected a string or a mapping, got a number"],
      ["services.web.env_file", 9, 15, "expected a string or a list, got a mapping"],
      ["services.web.volumes[0].type", 11, 9, 'missing required key "type"'],
      ["services.web.build.context", 6, 16, "expected a string, got a list"],
      ["services.web.extends.service", 8, 7, 'missing required key "service"'],
      ["services.db", 12, 3, "expected a mapping, got null"],
      ["services.cache", 13, 10, "expected a mapping, got a list"],
    ]);
    expect(info.problems.every((p) => p.severity === "error")).toBe(true);
  });

  it("turns YAML syntax errors into problems with their positions", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    image: [nginx", "  db:", "    image: x"),
    );
    expect(info.refs).toEqual([]);
    expect(info.problems.length).toBeGreaterThan(0);
    expect(info.problems[0]).toMatchObject({ file: FILE, key: "", severity: "error", line: 4 });
  });

  it("reports duplicate keys as errors", () => {
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    image: a", "  web:", "    image: b"),
    );
    expect(errors(info)).toHaveLength(1);
    expect(errors(info)[0]).toMatchObject({ line: 4, col: 3, message: expect.stringContaining("unique") });
  });

  it("reports a duplicate key among 40,000 at its line, with the positions of the others at hand", () => {
    const labels = Array.from({ length: 40_000 }, (_, i) => `      l${i}: v`);
    labels.splice(30_000, 0, "      l7: again");
    const info = parseComposeFile(
      FILE,
      yaml("services:", "  web:", "    image: x", "    labels:", ...labels),
    );
    expect(errors(info)).toEqual([
      expect.objectContaining({
        line: 30_005,
        col: 7,
        message: 'duplicate key "l7": map keys must be unique',
      }),
    ]);
  });

  it("points at keys reached through aliases and merge keys", () => {
    const info = parseComposeFile(
      FILE,
      yaml(
        "x-base: &base",
        "  env_file: ../../../nope.env",
        "services:",
        "  web:",
        "    <<: *base",
        "    image: x",
      ),
    );
    expect(errors(info)).toEqual([
      expect.objectContaining({ line: 2, col: 13, key: "services.web.env_file" }),
    ]);
  });

  it.each([
    ["an empty file", ""],
    ["a top-level list", "- a\n- b\n"],
    ["a scalar", "just text\n"],
    ["an alias bomb", `a: &a [x, x, x, x, x, x, x, x, x, x]\n${bomb()}`],
    ["binary noise", "\u0001\u0002: [\n\t{"],
    ["deep nesting", `services: ${"[".repeat(50_000)}`],
    ["thousands of aliases", `x-a: &a []\nservices:\n  web:\n    volumes:\n${"      - *a\n".repeat(5000)}`],
  ])("never throws on %s, reporting an error instead", (_name, content) => {
    const info = parseComposeFile(FILE, content);
    expect(errors(info).length).toBeGreaterThan(0);
    expect(info.refs).toEqual([]);
  });
});

/** Nested aliases that would expand to ~10^8 nodes; yaml refuses, and so must we (gracefully). */
function bomb(): string {
  const levels = ["b", "c", "d", "e", "f", "g", "h", "i"];
  let prev = "a";
  return levels
    .map((name) => {
      const line = `${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`;
      prev = name;
      return line;
    })
    .join("\n");
}

describe("collectComposeInputs", () => {
  it("adds the entry file itself and the optional .env beside it", () => {
    const repo = reader({ [FILE]: yaml("services:", "  web:", "    image: nginx") });
    const info = collectComposeInputs([`./${FILE}`], repo);
    expect(info.refs).toEqual([
      { kind: "compose", path: FILE, from: FILE, line: 1, col: 1 },
      { kind: "dotenv", path: "stacks/web/.env", from: FILE, line: 1, col: 1, optional: true },
    ]);
    expect(info.services).toEqual([{ name: "web", image: "nginx", healthcheck: false }]);
  });

  it("follows include recursively, resolving each included file against its own project directory", () => {
    const repo = reader({
      [FILE]: yaml("include:", "  - ../db/compose.yaml", "services:", "  web:", "    env_file: web.env"),
      "stacks/db/compose.yaml": yaml(
        "include:",
        "  - path: ../../infra/metrics.yaml",
        "    project_directory: ../../infra/metrics",
        "services:",
        "  db:",
        "    image: postgres",
        "    volumes: [./init:/docker-entrypoint-initdb.d]",
      ),
      "infra/metrics.yaml": yaml("services:", "  exporter:", "    build: .", "    env_file: exporter.env"),
      "stacks/web/web.env": "A=1\n",
      "infra/metrics/exporter.env": "B=2\n",
    });
    const info = collectComposeInputs([FILE], repo);
    // Order of refs is not part of the contract.
    expect(info.refs.map((r) => `${r.kind} ${r.path}`).sort()).toEqual(
      [
        `compose ${FILE}`,
        "include stacks/db/compose.yaml",
        "dotenv stacks/db/.env",
        "env_file stacks/web/web.env",
        "dotenv stacks/web/.env",
        "include infra/metrics.yaml",
        "dotenv infra/metrics/.env",
        "bind_mount stacks/db/init",
        // project_directory makes the included file's paths relative to infra/metrics, not infra/.
        "build_context infra/metrics",
        "dockerfile infra/metrics/Dockerfile",
        "env_file infra/metrics/exporter.env",
      ].sort(),
    );
    expect(info.services.map((s) => s.name)).toEqual(["web", "db", "exporter"]);
    expect(info.problems).toEqual([]);
  });

  it("merges services of an include's override file but warns when an include redefines a local service", () => {
    const repo = reader({
      [FILE]: yaml(
        "include:",
        "  - path: [../db/compose.yaml, ../db/compose.tuned.yaml]",
        "  - ../other/compose.yaml",
        "services:",
        "  web:",
        "    image: local",
      ),
      "stacks/db/compose.yaml": yaml("services:", "  db:", "    image: postgres:16"),
      "stacks/db/compose.tuned.yaml": yaml("services:", "  db:", "    image: postgres:17"),
      "stacks/other/compose.yaml": yaml("services:", "  web:", "    image: theirs"),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(info.services.map((s) => [s.name, s.image])).toEqual([
      ["web", "local"],
      ["db", "postgres:17"],
    ]);
    expect(info.problems).toEqual([
      {
        file: FILE,
        line: 3,
        col: 5,
        key: "include",
        message: expect.stringContaining('service "web"'),
        severity: "warning",
      },
    ]);
  });

  it("reports an include cycle as an error naming it, at the include that closes it, and terminates", () => {
    const repo = reader({
      "stacks/a/compose.yaml": yaml("include: [../b/compose.yaml]", "services: {a: {image: a}}"),
      "stacks/b/compose.yaml": yaml("services: {b: {image: b}}", "include:", "  - ../a/compose.yaml"),
    });
    const info = collectComposeInputs(["stacks/a/compose.yaml"], repo);
    expect(pathsOf(info, "include").sort()).toEqual(["stacks/a/compose.yaml", "stacks/b/compose.yaml"]);
    expect(info.services.map((s) => s.name)).toEqual(["a", "b"]);
    expect(info.problems).toEqual([
      {
        file: "stacks/b/compose.yaml",
        line: 3,
        col: 5,
        key: "include",
        message: "include cycle: stacks/a/compose.yaml -> stacks/b/compose.yaml -> stacks/a/compose.yaml",
        severity: "error",
      },
    ]);
  });

  it("finds an include cycle through a second entry file (-f a -f b, b includes a)", () => {
    const repo = reader({
      "a.yaml": yaml("include: [b.yaml]", "services: {a: {image: a}}"),
      "b.yaml": yaml("include: [a.yaml]", "services: {b: {image: b}}"),
    });
    const info = collectComposeInputs(["a.yaml", "b.yaml"], repo);
    expect(errors(info).map((p) => [p.file, p.message])).toEqual([
      ["b.yaml", "include cycle: a.yaml -> b.yaml -> a.yaml"],
    ]);
  });

  it("does not take a file included twice (a diamond) for a cycle", () => {
    const repo = reader({
      [FILE]: yaml("include: [../db/compose.yaml, ../cache/compose.yaml]"),
      "stacks/db/compose.yaml": yaml("include: [../common/compose.yaml]", "services: {db: {image: pg}}"),
      "stacks/cache/compose.yaml": yaml("include: [../common/compose.yaml]", "services: {cache: {image: r}}"),
      "stacks/common/compose.yaml": yaml("services: {common: {image: c}}"),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(info.problems).toEqual([]);
    expect(info.services.map((s) => s.name).sort()).toEqual(["cache", "common", "db"]);
  });

  it("follows extends across files, taking only the extended service and inheriting its fields", () => {
    const repo = reader({
      [FILE]: yaml(
        "services:",
        "  web:",
        "    extends: {file: ../common/base.yaml, service: app}",
        "    env_file: web.env",
      ),
      "stacks/common/base.yaml": yaml(
        "services:",
        "  app:",
        "    extends: {file: ../../lib/root.yaml, service: root}",
        "    image: acme/app",
        "    env_file: app.env",
        "  unrelated:",
        "    env_file: unrelated.env",
      ),
      "lib/root.yaml": yaml(
        "services:",
        "  root:",
        "    healthcheck: {test: [CMD, /bin/true]}",
        "    volumes: [./certs:/certs]",
      ),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(pathsOf(info).sort()).toEqual(
      [
        FILE,
        "stacks/web/.env",
        "stacks/web/web.env",
        "stacks/common/base.yaml",
        "stacks/common/app.env",
        "lib/root.yaml",
        "lib/certs",
      ].sort(),
    );
    expect(info.services).toEqual([
      {
        name: "web",
        image: "acme/app",
        healthcheck: true,
        extends: { service: "app", file: "stacks/common/base.yaml", line: 3, col: 14 },
      },
    ]);
  });

  it("takes from an extended file the problems of the file and of the extended service only, in order", () => {
    const repo = reader({
      [FILE]: yaml("services:", "  web:", "    extends: {file: base.yaml, service: app}"),
      "stacks/web/base.yaml": yaml(
        "services:",
        "  app:",
        "    env_file: ../../../a.env",
        "    image: !odd x",
        "  unrelated:",
        "    env_file: ../../../u.env",
        "  app.v2:",
        "    env_file: ../../../v.env",
      ),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(info.problems.map((p) => [p.line, p.key])).toEqual([
      [4, ""],
      [3, "services.app.env_file"],
      [8, "services.app.v2.env_file"],
    ]);
  });

  it("follows a file extended for each of thousands of services, taking each service's refs", () => {
    const n = 3000;
    const names = Array.from({ length: n }, (_, i) => `s${i}`);
    const repo = reader({
      [FILE]: `services:\n${names.map((s) => `  ${s}: {extends: {file: base.yaml, service: ${s}}}\n`).join("")}`,
      "stacks/web/base.yaml": `services:\n${names.map((s) => `  ${s}: {env_file: ${s}.env}\n`).join("")}`,
    });
    const info = collectComposeInputs([FILE], repo);
    expect(pathsOf(info, "env_file")).toEqual(names.map((s) => `stacks/web/${s}.env`));
  });

  it("reports an extends cycle across files as an error naming it, at the extends that closes it, and terminates", () => {
    const repo = reader({
      "a.yaml": yaml("services:", "  x:", "    extends: {file: b.yaml, service: y}"),
      "b.yaml": yaml("services:", "  y:", "    extends: {file: a.yaml, service: x}", "    env_file: y.env"),
      "y.env": "Y=1\n",
    });
    const info = collectComposeInputs(["a.yaml"], repo);
    expect(pathsOf(info).sort()).toEqual([".env", "a.yaml", "a.yaml", "b.yaml", "y.env"]);
    expect(info.problems).toEqual([
      {
        file: "b.yaml",
        line: 3,
        col: 21,
        key: "services.y.extends",
        message: "extends cycle: x (a.yaml) -> y (b.yaml) -> x (a.yaml)",
        severity: "error",
      },
    ]);
  });

  it("reports an extends cycle within one file, and a service extending itself", () => {
    const repo = reader({
      [FILE]: yaml(
        "services:",
        "  web:",
        "    extends: worker",
        "  worker:",
        "    extends: {service: web}",
        "  solo:",
        "    extends: solo",
      ),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(info.problems.map((p) => [p.severity, p.line, p.col, p.key, p.message])).toEqual([
      [
        "error",
        5,
        14,
        "services.worker.extends",
        `extends cycle: web (${FILE}) -> worker (${FILE}) -> web (${FILE})`,
      ],
      ["error", 7, 14, "services.solo.extends", `extends cycle: solo (${FILE}) -> solo (${FILE})`],
    ]);
  });

  it("resolves extends chains thousands of services long, in either order, each service inheriting the far end", () => {
    // Recursion over such a chain overflowed the stack, and resolving each service's chain anew was cubic.
    const n = 6000;
    const down = ["services:"];
    const up = ["services:", "  s0:", "    image: far-end:1"];
    for (let i = 0; i < n - 1; i++) down.push(`  s${i}:`, `    extends: s${i + 1}`, "    env_file: app.env");
    down.push(`  s${n - 1}:`, "    image: far-end:1");
    for (let i = 1; i < n; i++) up.push(`  s${i}:`, `    extends: s${i - 1}`);
    for (const lines of [down, up]) {
      const info = collectComposeInputs(
        [FILE],
        reader({ [FILE]: yaml(...lines), "stacks/web/app.env": "A=1\n" }),
      );
      expect(errors(info)).toEqual([]);
      expect(info.services).toHaveLength(n);
      expect(new Set(info.services.map((s) => s.image))).toEqual(new Set(["far-end:1"]));
    }
  }, 120_000);

  it("does not take two services extending one base for a cycle", () => {
    const repo = reader({
      [FILE]: yaml(
        "services:",
        "  web: {extends: {file: ../common/base.yaml, service: app}}",
        "  worker: {extends: {file: ../common/base.yaml, service: app}}",
      ),
      "stacks/common/base.yaml": yaml("services:", "  app: {extends: root}", "  root: {image: r}"),
    });
    expect(collectComposeInputs([FILE], repo).problems).toEqual([]);
  });

  it("reports a service extending one its own file lacks, as Compose refuses it", () => {
    const repo = reader({ [FILE]: yaml("services:", "  web:", "    extends: nothere") });
    expect(collectComposeInputs([FILE], repo).problems.map((p) => [p.severity, p.line, p.message])).toEqual([
      ["error", 3, `service "nothere" not found in ${FILE}`],
    ]);
  });

  it("merges the services of several entry files by name, later files overriding earlier ones", () => {
    const repo = reader({
      [FILE]: yaml(
        "name: web",
        "services:",
        "  web:",
        "    image: acme/web:dev",
        "    build:",
        "      context: .",
        "      args: {A: '1', B: '1'}",
        "    env_file: common.env",
        "  db:",
        "    image: postgres",
      ),
      "stacks/web/compose.prod.yaml": yaml(
        "name: web-prod",
        "services:",
        "  web:",
        "    image: acme/web:prod",
        "    build:",
        "      args: {B: '2'}",
        "    env_file: [common.env, prod.env]",
        "    healthcheck: {test: [CMD, /bin/true]}",
      ),
    });
    const info = collectComposeInputs([FILE, "stacks/web/compose.prod.yaml"], repo);
    expect(info.projectName).toBe("web-prod");
    expect(info.services).toEqual([
      {
        name: "web",
        image: "acme/web:prod",
        healthcheck: true,
        build: {
          context: "stacks/web",
          dockerfile: "stacks/web/Dockerfile",
          args: { A: "1", B: "2" },
          local: true,
        },
      },
      { name: "db", image: "postgres", healthcheck: false },
    ]);
    // Deduplicated by kind+path.
    expect(pathsOf(info, "env_file")).toEqual(["stacks/web/common.env", "stacks/web/prod.env"]);
    expect(pathsOf(info, "compose")).toEqual([FILE, "stacks/web/compose.prod.yaml"]);
  });

  it("resolves an override file in another directory against the first file's directory, like `-f`", () => {
    const repo = reader({
      [FILE]: yaml("services: {web: {image: a}}"),
      "stacks/web/env/prod.yaml": yaml("services:", "  web:", "    env_file: prod.env"),
    });
    const info = collectComposeInputs([FILE, "stacks/web/env/prod.yaml"], repo);
    expect(pathsOf(info, "env_file")).toEqual(["stacks/web/prod.env"]);
  });

  it("makes a reference required when any file requires it", () => {
    const repo = reader({
      [FILE]: yaml(
        "services:",
        "  a:",
        "    env_file: [{path: x.env, required: false}]",
        "  b:",
        "    env_file: x.env",
      ),
    });
    const info = collectComposeInputs([FILE], repo);
    expect(refsOf(info, "env_file")).toEqual([
      { kind: "env_file", path: "stacks/web/x.env", from: FILE, line: 3, col: 23, service: "a" },
    ]);
  });

  it("reports a missing entry file, and missing included/extended files at the reference, as errors", () => {
    const repo = reader({
      [FILE]: yaml(
        "include:",
        "  - ./missing.yaml",
        "services:",
        "  web:",
        "    extends: {file: ./gone.yaml, service: x}",
      ),
    });
    const info = collectComposeInputs([FILE, "stacks/web/absent.yaml"], repo);
    expect(info.problems.map((p) => [p.severity, p.file, p.line, p.col, p.key])).toEqual([
      ["error", "stacks/web/absent.yaml", 1, 1, ""],
      ["error", FILE, 2, 5, "include"],
      ["error", FILE, 5, 21, "services.web.extends"],
    ]);
    // Still recorded, so the stack changes when they appear.
    expect(pathsOf(info)).toContain("stacks/web/missing.yaml");
    expect(pathsOf(info)).toContain("stacks/web/gone.yaml");
  });

  it("reports a missing required env_file as an error at its reference, and leaves required: false and .env optional", () => {
    const repo = reader({
      [FILE]: yaml(
        "include:",
        "  - path: ../db/compose.yaml",
        "    env_file: ../db/db.env",
        "services:",
        "  web:",
        "    env_file:",
        "      - present.env",
        "      - missing.env",
        "      - path: optional.env",
        "        required: false",
      ),
      "stacks/db/compose.yaml": yaml("services: {db: {image: pg}}"),
      "stacks/web/present.env": "A=1\n",
    });
    const info = collectComposeInputs([FILE], repo);
    expect(info.problems).toEqual([
      {
        file: FILE,
        line: 3,
        col: 15,
        key: "include",
        message: "env_file stacks/db/db.env not found (it is required; `required: false` makes it optional)",
        severity: "error",
      },
      {
        file: FILE,
        line: 8,
        col: 9,
        key: "services.web.env_file",
        message:
          "env_file stacks/web/missing.env not found (it is required; `required: false` makes it optional)",
        severity: "error",
      },
    ]);
  });

  it("asks the injected exists, not read, whether an env_file is there", () => {
    const repo = reader({ [FILE]: yaml("services:", "  web:", "    env_file: app.env") });
    const asked: string[] = [];
    const info = collectComposeInputs([FILE], repo, undefined, [], (path) => {
      asked.push(path);
      return true;
    });
    expect(asked).toEqual(["stacks/web/app.env"]);
    expect(info.problems).toEqual([]);
  });

  it("reports an entry path escaping the repository", () => {
    const info = collectComposeInputs(["../outside/compose.yaml"], reader({}));
    expect(info.refs).toEqual([]);
    expect(errors(info)).toHaveLength(1);
  });

  it("parses each file once through the injected parser, even when reached twice", () => {
    const repo = reader({
      [FILE]: yaml("include: [../db/compose.yaml, ../cache/compose.yaml]"),
      "stacks/db/compose.yaml": yaml("include: [../cache/compose.yaml]", "services: {db: {image: pg}}"),
      "stacks/cache/compose.yaml": yaml("services: {cache: {image: redis}}"),
    });
    const parsed: string[] = [];
    const info = collectComposeInputs([FILE], repo, (path, content) => {
      parsed.push(path);
      return parseComposeFile(path, content);
    });
    expect(parsed).toEqual([FILE, "stacks/db/compose.yaml", "stacks/cache/compose.yaml"]);
    expect(info.services.map((s) => s.name)).toEqual(["db", "cache"]);
  });
});
