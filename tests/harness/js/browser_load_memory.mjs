#!/usr/bin/env node
// browser_run.mjs, extended for memory figures (bench/load.py's browser rows): drive ort_web_page.html in headless
// Chromium or Firefox (job.engine) and print ONE JSON line, with every browser process's own peak (VmHWM) and
// current RSS (VmRSS), grouped by its type (browser_procs.mjs: Chromium's --type=, Firefox's content-process kind).
// The browsers, their flags and the one-line answer are browser_common.mjs's, as for browser_run.mjs.
//
//   ORTWASM_NODE_MODULES=/var/cache/ortwasm/node/node_modules node browser_load_memory.mjs JOB.json [--out RESULT.json]
//
// Why VmHWM per process: the page cannot see its own RSS, and a timer in the page cannot sample while wasm blocks
// its main thread; the kernel keeps each process's high-water mark, which this driver samples from Node every
// 200 ms and once at the end, keeping the largest (Chromium resets it: browser_procs.mjs peakTracker).  So the
// figures are the peak of the whole load.  The page's content process (Chromium's
// renderer, Firefox's `tab`) holds the wasm heap and the fetched bytes; the GPU process is summed beside it because
// issue #13 asks for renderer + GPU (headless Firefox starts none: its term is 0).
// window.ortwasmSampleRss (called by the page right after InferenceSession.create) answers content + GPU VmRSS.
// Both engines keep spare and helper content processes beside the page's; each is in `processes`, the sum of their
// peaks in peak_renderers_sum; the browser's main process (Firefox's parent) apart in peak_main.

import { emit, engineName, launchBrowser, openPage, runDriver, runInPage } from './browser_common.mjs';
import { engineOf, peakTracker, sumOf } from './browser_procs.mjs';

async function main(job) {
  const engine = engineName(job);
  const { content, gpu } = engineOf(engine);
  const procs = peakTracker(process.pid, engine);
  const browser = await launchBrowser(job);
  const sampler = setInterval(procs, 200);
  let afterSession = null;
  const page = await openPage(browser, job, () => {
    afterSession = procs();
    return sumOf(afterSession, gpu, 'vm_rss') + Math.max(0, ...afterSession.filter((p) => p.type === content)
      .map((p) => p.vm_rss));
  });
  // job.drainOnly: fetch each external data URL and read the body to its end, keeping nothing: the speed of the
  // source as the page sees it (the browser's `cat FILE > /dev/null`), in a fresh browser of its own.
  await page.evaluate(() => {
    window.drain = async (j) => {
      const t0 = performance.now();
      let bytes = 0;
      for (const e of j.externalData ?? []) {
        const reader = (await fetch(e.url)).body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.byteLength;
        }
      }
      return { ok: true, outputs: {}, error: null, stage: 'done', timings: { session_ms: performance.now() - t0 },
               memory: {}, drained_bytes: bytes };
    };
  });
  const atStart = procs();

  const result = await runInPage(page, (j) => (j.drainOnly ? drain(j) : window.runJob(j)), job);
  clearInterval(sampler);
  const atEnd = procs();
  // the page's content process is the one with the highest peak
  const pagePid = atEnd.filter((p) => p.type === content)
    .reduce((a, p) => (!a || p.vm_hwm > a.vm_hwm ? p : a), null)?.pid;
  const figures = (list) => {
    if (!list) return null;
    const pg = list.find((p) => p.pid === pagePid);
    return {
      renderer: pg?.vm_hwm ?? 0, renderer_rss: pg?.vm_rss ?? 0, gpu: sumOf(list, gpu, 'vm_hwm'),
      gpu_rss: sumOf(list, gpu, 'vm_rss'), renderers_sum: sumOf(list, content, 'vm_hwm'),
      main: sumOf(list, 'browser', 'vm_hwm'), all_hwm: list.reduce((s, p) => s + p.vm_hwm, 0),
    };
  };
  const end = figures(atEnd);
  result.memory = {
    ...(result.memory ?? {}),
    peak_rss: end.renderer + end.gpu,
    peak_rss_kind: `VmHWM of the page's ${content} process + ${gpu}, the largest sampled every 200 ms`,
    peak_renderer: end.renderer, peak_gpu: end.gpu, peak_renderers_sum: end.renderers_sum, peak_main: end.main,
    peak_all_processes_sum: end.all_hwm, page_renderer_pid: pagePid,
    before_load: figures(atStart), after_session: figures(afterSession), processes: atEnd,
  };
  result.browser = await browser.version();
  result.engine = engine;
  emit(result, result.ok ? 0 : 1);
}

runDriver('browser_load_memory.mjs', main);
