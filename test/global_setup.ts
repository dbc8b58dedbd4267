// Runs once before every test file: the suites that serve the web console
// (the browser suite, the CLI's first start) need src/console/dist, and
// building it here avoids two files rebuilding it at once.
import { ensureConsoleBuilt } from "./browser/harness.js";

export default async function setup(): Promise<void> {
  await ensureConsoleBuilt();
}
