import { defineConfig } from "vitest/config";

// End-to-end tests against real test hosts (test/e2e/harness). They need root
// and the packages from test/e2e/harness/install.sh, start daemons, and share
// machine-wide resources (users, network namespaces), so files run one at a
// time and get generous timeouts.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    fileParallelism: false,
    pool: "forks",
    testTimeout: 180_000,
    hookTimeout: 300_000,
    teardownTimeout: 120_000,
  },
});
