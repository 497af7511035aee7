#!/usr/bin/env node
// Drive a harness page (ort_web_page.html) in headless Chromium (playwright-core) or Firefox (puppeteer-core over
// WebDriver BiDi), job.engine choosing; print ONE JSON line like ort_web_node.mjs does.  Usage
// (tests/harness/runtime.py run_page serves the files and builds the job):
//
//   ORTWASM_NODE_MODULES=/var/cache/ortwasm/node/node_modules node browser_run.mjs JOB.json [--out RESULT.json]
//
// JOB is run_session.mjs's job plus pageUrl, entryUrl, wasmDirUrl, modelUrl, externalData[].url, engine and
// executablePath.  The browsers, their flags and the one-line answer are browser_common.mjs's (shared with
// browser_load_memory.mjs).  The page cannot see its own RSS, so peak_rss here is the sampled sum of VmRSS over the
// browser's process tree; memory.hwm adds each process type's kernel high-water mark (VmHWM, the largest sampled:
// browser_procs.mjs peakTracker says why), memory.content_hwm the largest content process's (the page's: renderer,
// Firefox's tab) and memory.content_processes each content process's.
// job.chromiumArgs are added to the flags (WebGPU on SwiftShader: client.py WEBGPU_ARGS). Console lines where ORT
// says which execution provider a node was placed on are kept whole in result.placements (the console tail is
// only the last 40 lines): they are the proof that kernels ran on WebGPU and not on the CPU fallback.

import { emit, engineName, launchBrowser, openPage, runDriver, runInPage } from './browser_common.mjs';
import { engineOf, peakTracker } from './browser_procs.mjs';

let peakTreeRss = 0;
const placements = [];
const PLACEMENT = /placed on|ExecutionProvider/;

async function main(job) {
  const engine = engineName(job);
  const browser = await launchBrowser(job, job.chromiumArgs ?? []);
  // the browser is a child of this Node process (browser_procs.mjs)
  const procs = peakTracker(process.pid, engine);
  /** Sum of VmRSS over the browser's process tree (the browser, its content, GPU and utility processes). */
  const treeRss = () => procs().reduce((s, p) => s + p.vm_rss, 0);
  const sampler = setInterval(() => {
    peakTreeRss = Math.max(peakTreeRss, treeRss());
  }, 200);

  const page = await openPage(browser, job, treeRss, (text) => {
    if (PLACEMENT.test(text)) placements.push(text.slice(0, 2000));
  });
  const result = await runInPage(page, (j) => window.runJob(j), job);
  clearInterval(sampler);
  peakTreeRss = Math.max(peakTreeRss, treeRss());
  const atEnd = procs();
  const hwm = {};
  for (const p of atEnd) hwm[p.type] = (hwm[p.type] ?? 0) + p.vm_hwm;
  const contentProcs = atEnd.filter((p) => p.type === engineOf(engine).content);
  result.memory = { ...(result.memory ?? {}), hwm, content_hwm: Math.max(0, ...contentProcs.map((p) => p.vm_hwm)),
                    content_processes: contentProcs };
  result.browser = await browser.version();
  result.engine = engine;
  emit(result, result.ok ? 0 : 1);
}

// a harness failure still reports the peak sampled so far
runDriver('browser_run.mjs', main, (result) => {
  result.memory = { ...(result.memory ?? {}), peak_rss: peakTreeRss || null, peak_rss_kind: 'sampled-process-tree' };
  result.placements = placements.slice(0, 400);
});
