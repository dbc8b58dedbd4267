import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds the web console once if its sources are newer than src/console/dist.
    globalSetup: ["test/global_setup.ts"],
    // Integration tests start real servers on ephemeral ports; keep files parallel
    // but give slow CI machines room (2 cores, noisy neighbours).
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
