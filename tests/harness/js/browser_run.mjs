#!/usr/bin/env node
// Drive a harness page (ort_web_page.html) in headless Debian Chromium with playwright-core; print ONE JSON line like
// ort_web_node.mjs does. Usage (tests/harness/client.py run_client_browser builds the job and serves the files):
//
//   ORTWASM_NODE_MODULES=/var/cache/ortwasm/node/node_modules node browser_run.mjs JOB.json [--out RESULT.json]
//
// JOB is run_session.mjs's job plus pageUrl, mjsUrl, wasmUrl, modelUrl, externalData[].url and chromium.
// The browser, its flags and the one-line answer are browser_common.mjs's (shared with browser_load_memory.mjs).
// The page cannot see its own RSS, so peak_rss here is the sampled sum of VmRSS over the browser's process tree;
// memory.hwm adds each Chromium process type's kernel high-water mark (VmHWM, read at the end, so no sampling gap).
// job.chromiumArgs are added to the flags (WebGPU on SwiftShader: client.py WEBGPU_ARGS). Console lines where ORT
// says which execution provider a node was placed on are kept whole in result.placements (the console tail is
// only the last 40 lines): they are the proof that kernels ran on WebGPU and not on the CPU fallback.

import { emit, launchChromium, openPage, runDriver, runInPage } from './browser_common.mjs';
import { chromiumProcesses } from './chromium_procs.mjs';

let peakTreeRss = 0;
const placements = [];
const PLACEMENT = /placed on|ExecutionProvider/;

/** Sum of VmRSS over the browser's process tree (the browser, its renderer, GPU and utility processes). */
const treeRss = (root) => chromiumProcesses(root).reduce((s, p) => s + p.vm_rss, 0);

/** VmHWM per Chromium process type (renderer, gpu-process, utility, browser, ...). */
function treeHwm(root) {
  const byType = {};
  for (const p of chromiumProcesses(root)) byType[p.type] = (byType[p.type] ?? 0) + p.vm_hwm;
  return byType;
}

async function main(job) {
  const browser = await launchChromium(job, job.chromiumArgs ?? []);
  // playwright's Browser does not expose the process: Chromium is a child of this Node process
  const pid = process.pid;
  const sampler = setInterval(() => {
    peakTreeRss = Math.max(peakTreeRss, treeRss(pid));
  }, 200);

  const page = await openPage(browser, job, () => treeRss(pid), (text) => {
    if (PLACEMENT.test(text)) placements.push(text.slice(0, 2000));
  });
  const result = await runInPage(page, (j) => window.runJob(j), job);
  clearInterval(sampler);
  peakTreeRss = Math.max(peakTreeRss, treeRss(pid));
  result.memory = { ...(result.memory ?? {}), hwm: treeHwm(pid) };
  result.browser = browser.version();
  emit(result, result.ok ? 0 : 1);
}

// a harness failure still reports the peak sampled so far
runDriver('browser_run.mjs', main, (result) => {
  result.memory = { ...(result.memory ?? {}), peak_rss: peakTreeRss || null, peak_rss_kind: 'sampled-process-tree' };
  result.placements = placements.slice(0, 400);
});
