#!/usr/bin/env node
// Drive a harness page (ort_web_page.html) in headless Debian Chromium with playwright-core; print ONE JSON line like
// ort_web_node.mjs does. Usage (tests/harness/client.py run_client_browser builds the job and serves the files):
//
//   ORTWASM_NODE_MODULES=/var/cache/ortwasm/node/node_modules node browser_run.mjs JOB.json [--out RESULT.json]
//
// JOB is run_session.mjs's job plus pageUrl, mjsUrl, wasmUrl, modelUrl, externalData[].url and chromium.
// Why Debian's chromium and these flags: a downloaded browser build does not run on these machines, and without
// the networking flags Chromium keeps reaching for hosts it cannot reach (docs/toolchain.md "Runtimes").
// playwright's launch() gives every run a fresh temporary --user-data-dir and removes it afterwards.
// The page cannot see its own RSS, so peak_rss here is the sampled sum of VmRSS over the browser's process tree;
// memory.hwm adds each Chromium process type's kernel high-water mark (VmHWM, read at the end, so no sampling gap).
// job.chromiumArgs are added to the flags (WebGPU on SwiftShader: client.py WEBGPU_ARGS). Console lines where ORT
// says which execution provider a node was placed on are kept whole in result.placements (the console tail is
// only the last 40 lines): they are the proof that kernels ran on WebGPU and not on the CPU fallback.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromiumProcesses } from './chromium_procs.mjs';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--js-flags=--expose-gc', // so the page can collect unmounted bytes before the RSS-after-session sample
];

let outFile = null;
let emitted = false;
let browser = null;
let peakTreeRss = 0;
const consoleTail = [];
const placements = [];
const PLACEMENT = /placed on|ExecutionProvider/;

function emit(result, code) {
  if (emitted) return;
  emitted = true;
  result.memory = { ...(result.memory ?? {}), peak_rss: peakTreeRss || null, peak_rss_kind: 'sampled-process-tree' };
  result.console = consoleTail.slice(-40);
  result.placements = placements.slice(0, 400);
  const line = JSON.stringify(result);
  if (outFile) fs.writeFileSync(outFile, `${line}\n`);
  fs.writeSync(1, `\n${line}\n`);
  const done = () => process.exit(code);
  if (browser) browser.close().then(done, done);
  else done();
  setTimeout(done, 10000).unref();
}

const failHarness = (stage) => (e) =>
  emit({ ok: false, outputs: {}, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}`, stage }, 1);
process.on('uncaughtException', failHarness('browser-harness'));
process.on('unhandledRejection', failHarness('browser-harness'));

/** Sum of VmRSS over the browser's process tree (the browser, its renderer, GPU and utility processes). */
const treeRss = (root) => chromiumProcesses(root).reduce((s, p) => s + p.vm_rss, 0);

/** VmHWM per Chromium process type (renderer, gpu-process, utility, browser, ...). */
function treeHwm(root) {
  const byType = {};
  for (const p of chromiumProcesses(root)) byType[p.type] = (byType[p.type] ?? 0) + p.vm_hwm;
  return byType;
}

async function main() {
  const argv = process.argv.slice(2);
  const jobFile = argv[0];
  const i = argv.indexOf('--out');
  if (i >= 0) outFile = argv[i + 1];
  if (!jobFile) throw new Error('usage: browser_run.mjs JOB.json [--out RESULT.json]');
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));

  const modules = process.env.ORTWASM_NODE_MODULES ?? '/var/cache/ortwasm/node/node_modules';
  const require = createRequire(path.join(modules, 'noop.js'));
  const { chromium } = require('playwright-core');

  browser = await chromium.launch({
    executablePath: job.chromium ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', ...CHROMIUM_ARGS, ...(job.chromiumArgs ?? [])],
    timeout: 60000,
  });
  // playwright's Browser does not expose the process: Chromium is a child of this Node process
  const pid = process.pid;
  const sampler = setInterval(() => {
    peakTreeRss = Math.max(peakTreeRss, treeRss(pid));
  }, 200);

  const page = await browser.newPage();
  await page.exposeFunction('ortwasmSampleRss', () => treeRss(process.pid));
  page.on('console', (m) => {
    const text = `${m.type()}: ${m.text()}`;
    consoleTail.push(text.slice(0, 2000));
    if (PLACEMENT.test(text)) placements.push(text.slice(0, 2000));
  });
  page.on('pageerror', (e) => consoleTail.push(`pageerror: ${e.message}`.slice(0, 2000)));
  page.setDefaultTimeout(job.timeoutMs ?? 900000);
  await page.goto(job.pageUrl);
  await page.waitForFunction(() => window.harnessReady === true, null, { timeout: 60000 });

  let result;
  try {
    result = await page.evaluate((j) => window.runJob(j), job);
  } catch (e) {
    // the page died (renderer OOM/crash) or timed out: still one JSON line
    result = { ok: false, outputs: {}, error: `page: ${e?.message ?? e}`, stage: 'browser' };
  }
  clearInterval(sampler);
  peakTreeRss = Math.max(peakTreeRss, treeRss(pid));
  result.memory = { ...(result.memory ?? {}), hwm: treeHwm(pid) };
  result.browser = browser.version();
  emit(result, result.ok ? 0 : 1);
}

main().catch(failHarness('browser-harness'));
