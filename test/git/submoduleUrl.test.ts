import { describe, expect, it } from "vitest";
import { sourceTarget, submoduleTarget } from "../../src/git/submoduleUrl.ts";

const GH = "https://ghe.example:8443";
const APP = `${GH}/acme/app.git`;

describe("where a submodule or source is fetched from", () => {
  it("resolves relative submodule URLs against the repository holding them, as git does", () => {
    expect(submoduleTarget("../tools.git", APP, GH)).toEqual({
      cloneUrl: `${GH}/acme/tools.git`,
      fullName: "acme/tools",
    });
    expect(submoduleTarget("../../other/lib", APP, GH)).toEqual({
      cloneUrl: `${GH}/other/lib.git`,
      fullName: "other/lib",
    });
    // Nested: relative to the submodule's own URL.
    expect(submoduleTarget("../inner.git", `${GH}/other/lib.git`, GH)).toMatchObject({
      fullName: "other/inner",
    });
  });

  it("reads ssh and scp-style URLs on the configured host as https there", () => {
    expect(submoduleTarget("git@ghe.example:acme/tools.git", APP, GH)).toMatchObject({
      cloneUrl: `${GH}/acme/tools.git`,
    });
    expect(submoduleTarget("ssh://git@ghe.example/acme/tools", APP, GH)).toMatchObject({
      fullName: "acme/tools",
    });
  });

  it("refuses any other origin, credentials in the URL, non-http schemes and paths that name no repository", () => {
    const refused = (t: ReturnType<typeof submoduleTarget>) => ("refused" in t ? t.refused : "");
    expect(refused(submoduleTarget("https://github.com/acme/tools.git", APP, GH))).toContain(
      "not on the configured GitHub",
    );
    expect(refused(submoduleTarget("https://ghe.example/acme/tools.git", APP, GH))).toContain(
      "not on the configured GitHub",
    );
    expect(refused(submoduleTarget("git@gitlab.example:acme/tools.git", APP, GH))).toContain(
      "not on the configured GitHub",
    );
    const withCreds = refused(submoduleTarget(`https://u:s3cret@ghe.example:8443/acme/tools.git`, APP, GH));
    expect(withCreds).toContain("carries credentials");
    expect(withCreds).not.toContain("s3cret");
    expect(refused(submoduleTarget("file:///etc/passwd", APP, GH))).toContain("not http(s)");
    expect(refused(submoduleTarget("../../../x.git", APP, GH))).toContain("does not name a repository");
    expect(refused(submoduleTarget("../tools.git", undefined, GH))).toContain("relative URL");
  });

  it("takes a source as owner/name on the configured GitHub, or a clone URL there only", () => {
    expect(sourceTarget("acme/utils", GH)).toEqual({
      cloneUrl: `${GH}/acme/utils.git`,
      fullName: "acme/utils",
    });
    expect(sourceTarget(`${GH}/acme/utils`, GH)).toMatchObject({ fullName: "acme/utils" });
    expect(sourceTarget("https://gitlab.example/acme/utils.git", GH)).toHaveProperty("refused");
  });
});
