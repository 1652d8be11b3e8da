// The index of who uses which source, and the sources recorded with a deployment, on both backends.
import { describe, expect, it } from "vitest";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();
const user = (repo: string) => ({
  repo,
  installationId: 7,
  cloneUrl: `https://github.com/${repo}.git`,
  defaultBranch: "main",
});

describe.each(backends)("sources ($name)", (backend) => {
  it("finds the repositories using a source branch, and forgets a source dropped from a config", async () => {
    const store = await backend.openStore();
    await store.replaceSourceUses(user("acme/app"), [
      { name: "utils", sourceRepo: "Acme/Utils", ref: "main", commit: "a".repeat(40) },
      { name: "conf", sourceRepo: "acme/conf", commit: "b".repeat(40) },
    ]);
    await store.replaceSourceUses(user("acme/other"), [
      { name: "u", sourceRepo: "acme/utils", ref: "release", commit: "c".repeat(40) },
    ]);
    expect((await store.sourceDependents("acme/utils", "main", true)).map((d) => [d.repo, d.name])).toEqual([
      ["acme/app", "utils"],
    ]);
    expect((await store.sourceDependents("ACME/utils", "release", false)).map((d) => d.repo)).toEqual([
      "acme/other",
    ]);
    // No ref: the source's default branch, and only that.
    expect((await store.sourceDependents("acme/conf", "main", true))[0]).toMatchObject({
      repo: "acme/app",
      installationId: 7,
      cloneUrl: "https://github.com/acme/app.git",
      defaultBranch: "main",
      ref: null,
    });
    expect(await store.sourceDependents("acme/conf", "feature", false)).toEqual([]);
    expect(await store.sourceCommits("acme/app")).toEqual(
      new Map([
        ["utils", "a".repeat(40)],
        ["conf", "b".repeat(40)],
      ]),
    );

    await store.replaceSourceUses(user("acme/app"), [
      { name: "utils", sourceRepo: "acme/utils", ref: "main", commit: "d".repeat(40) },
    ]);
    expect(await store.sourceDependents("acme/conf", "main", true)).toEqual([]);
    expect(await store.sourceCommits("acme/app")).toEqual(new Map([["utils", "d".repeat(40)]]));
    await store.replaceSourceUses(user("acme/app"), []);
    expect(await store.sourceCommits("acme/app")).toEqual(new Map());
  });

  it("records the source commits a deployment was made from", async () => {
    const store = await backend.openStore();
    const id = await store.createDeployment({
      repo: "acme/app",
      stack: "web",
      host: "h1",
      commit: "e".repeat(40),
      fingerprint: "sha256:x",
      actor: "t",
      trigger: "merge",
      sources: [{ name: "utils", repository: "acme/utils", commit: "f".repeat(40) }],
    });
    expect(await store.deploymentSources(id)).toEqual([
      { name: "utils", repository: "acme/utils", commit: "f".repeat(40) },
    ]);
    const plain = await store.createDeployment({
      repo: "acme/app",
      stack: "api",
      host: "h1",
      commit: "e".repeat(40),
      fingerprint: "sha256:y",
      actor: "t",
      trigger: "merge",
    });
    expect(await store.deploymentSources(plain)).toEqual([]);
  });
});
