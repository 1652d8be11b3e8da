import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { sourcePath } from "../../src/config/repoConfigSchema.ts";

const errorsOf = (text: string) => loadRepoConfig(text).problems.filter((p) => p.severity === "error");

describe("sources and submodules in the repo config", () => {
  it("reads sources with their defaults and submodules recursive by default", () => {
    const { config, problems } = loadRepoConfig(
      "sources:\n  utils: { repository: acme/utils, ref: main, path: vendor/utils }\n  tools: { repository: https://github.com/acme/tools.git }\n",
    );
    expect(problems).toEqual([]);
    expect(config.submodules).toBe("recursive");
    expect(config.sources.utils).toEqual({ repository: "acme/utils", ref: "main", path: "vendor/utils" });
    expect(sourcePath("tools", config.sources.tools as never)).toBe("vendor/tools");
  });

  it("refuses a source path that escapes the repository, at its line and column", () => {
    const [p, ...rest] = errorsOf("sources:\n  utils:\n    repository: acme/utils\n    path: ../outside\n");
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ file: ".github/stackpilot.yml", line: 4, col: 11, key: "sources.utils.path" });
    expect(p?.message).toContain('".."');
  });

  it("refuses an absolute source path and one inside .github or .git", () => {
    const problems = errorsOf(
      "sources:\n  a: { repository: acme/a, path: /srv/x }\n  b: { repository: acme/b, path: .github/workflows }\n  c: { repository: acme/c, path: x/.git/y }\n",
    );
    expect(problems.map((p) => [p.key, p.line])).toEqual([
      ["sources.a.path", 2],
      ["sources.b.path", 3],
      ["sources.c.path", 4],
    ]);
    expect(problems[0]?.message).toContain("absolute path");
    expect(problems[1]?.message).toContain("outside .github and .git");
  });

  it("refuses two sources whose paths overlap, naming the other", () => {
    const [p] = errorsOf(
      "sources:\n  a: { repository: acme/a, path: vendor }\n  b: { repository: acme/b, path: vendor/b }\n",
    );
    expect(p).toMatchObject({ key: "sources.b.path", line: 3 });
    expect(p?.message).toContain('overlaps source a at "vendor"');
  });

  it("refuses a repository that is neither owner/name nor a URL, a bad ref, and an unknown mode", () => {
    const problems = errorsOf(
      "submodules: deep\nsources:\n  a: { repository: 'acme', ref: '--upload-pack=x' }\n",
    );
    expect(problems.map((p) => p.key).sort()).toEqual([
      "sources.a.ref",
      "sources.a.repository",
      "submodules",
    ]);
  });
});
