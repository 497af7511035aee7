#!/usr/bin/env node
// browser_run.mjs, extended for memory figures (bench/runtime_load_browser.py): drive ort_web_page.html in headless
// Debian Chromium with playwright-core and print ONE JSON line, with every Chromium process's own peak (VmHWM) and
// current RSS (VmRSS), grouped by its --type= (renderer, gpu-process, utility, ... ; none: the browser process).
// The browser, its flags and the one-line answer are browser_common.mjs's, as for browser_run.mjs.
//
//   ORTWASM_NODE_MODULES=/var/cache/ortwasm/node/node_modules node browser_load_memory.mjs JOB.json [--out RESULT.json]
//
// Why VmHWM per process, read once at the end: the page cannot see its own RSS, and a timer cannot sample while wasm
// blocks the renderer's main thread; the kernel keeps each process's high-water mark for as long as it lives, so a
// read just before closing the browser is the peak of the whole load.  The renderer holds the wasm heap and the
// fetched bytes; the GPU process is summed beside it because issue #13 asks for renderer + GPU.
// window.ortwasmSampleRss (called by the page right after InferenceSession.create) answers renderer + GPU VmRSS.
// Playwright keeps helper renderers beside the page's; each is in `processes`, the sum in peak_renderers_sum.

import { emit, launchChromium, openPage, runDriver, runInPage } from './browser_common.mjs';
import { chromiumProcesses, sumOf } from './chromium_procs.mjs';

async function main(job) {
  const browser = await launchChromium(job);
  let afterSession = null;
  const page = await openPage(browser, job, () => {
    afterSession = chromiumProcesses(process.pid);
    return sumOf(afterSession, 'gpu-process', 'vm_rss') + Math.max(0, ...afterSession.filter((p) => p.type === 'renderer')
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
  const atStart = chromiumProcesses(process.pid);

  const result = await runInPage(page, (j) => (j.drainOnly ? drain(j) : window.runJob(j)), job);
  const atEnd = chromiumProcesses(process.pid);
  // Playwright keeps spare and helper renderers beside the page's: the page's is the one with the highest peak.
  const renderers = atEnd.filter((p) => p.type === 'renderer');
  const pagePid = renderers.reduce((a, p) => (!a || p.vm_hwm > a.vm_hwm ? p : a), null)?.pid;
  const figures = (procs) => {
    if (!procs) return null;
    const pg = procs.find((p) => p.pid === pagePid);
    return {
      renderer: pg?.vm_hwm ?? 0, renderer_rss: pg?.vm_rss ?? 0, gpu: sumOf(procs, 'gpu-process', 'vm_hwm'),
      gpu_rss: sumOf(procs, 'gpu-process', 'vm_rss'), renderers_sum: sumOf(procs, 'renderer', 'vm_hwm'),
      all_hwm: procs.reduce((s, p) => s + p.vm_hwm, 0),
    };
  };
  const end = figures(atEnd);
  result.memory = {
    ...(result.memory ?? {}),
    peak_rss: end.renderer + end.gpu, peak_rss_kind: "VmHWM of the page's renderer + gpu-process, read at the end",
    peak_renderer: end.renderer, peak_gpu: end.gpu, peak_renderers_sum: end.renderers_sum,
    peak_all_processes_sum: end.all_hwm, page_renderer_pid: pagePid,
    before_load: figures(atStart), after_session: figures(afterSession), processes: atEnd,
  };
  result.browser = browser.version();
  emit(result, result.ok ? 0 : 1);
}

runDriver('browser_load_memory.mjs', main);
