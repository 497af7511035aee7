// The one way a Node harness answers: ONE JSON line on stdout (and in --out), then exit with the given code.
// Shared by run_session.mjs (C-API probes) and ort_web_node.mjs (public API), so the Python side parses one format.

import fs from 'node:fs';

/** Fill the fields every result has, write it out, exit. Never returns. */
export function writeResult(outFile, fields, code) {
  const result = { ok: false, outputs: {}, error: null, stage: null, ...fields, node: process.version };
  const line = JSON.stringify(result);
  try {
    if (outFile) fs.writeFileSync(outFile, `${line}\n`);
  } finally {
    fs.writeSync(1, `\n${line}\n`);
    process.exit(code);
  }
}
