/**
 * `node dist/state/makeTemplate.js [OUT]` (run by `npm run build`): makes the embedded database's
 * template (pgliteTemplate.ts) unless a usable one is there already.
 */
import { DEFAULT_TEMPLATE, makeTemplate, usableTemplate } from "./pgliteTemplate.ts";

const out = process.argv[2] ?? DEFAULT_TEMPLATE;
if (!(await usableTemplate(out))) {
  const started = Date.now();
  await makeTemplate(out);
  console.error(`stackpilot: made ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
