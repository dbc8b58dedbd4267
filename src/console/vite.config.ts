import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const dir = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The web console: a Preact SPA served by src/console/serve.ts at /console/.
export default defineConfig(({ command }) => ({
  root: dir("./app"),
  base: "/console/",
  publicDir: false,
  logLevel: "warn",
  // Production JSX for builds even when NODE_ENV is not "production" (e.g. under vitest).
  oxc: { jsx: { runtime: "automatic", importSource: "preact", development: command === "serve" } },
  build: {
    outDir: dir("./dist"),
    emptyOutDir: true,
    target: "es2022",
    // No inline polyfill or data: scripts: the console runs under script-src 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
}));
