// What the browser drivers share (browser_run.mjs for the tests, browser_load_memory.mjs for bench/load.py), so
// every driver runs the same browser and answers the same way: ONE JSON line on stdout (and in --out), like
// ort_web_node.mjs, even when the harness itself fails, so the Python side always has a result.
//
// Two engines, chosen by job.engine (default chromium; the executable is job.executablePath, which
// tests/harness/runtime.py's run_page sets from its BROWSERS table):
// - chromium: Debian's, driven by playwright-core.  Why these flags: a downloaded browser build does not run on
//   these machines, and without the networking flags Chromium keeps reaching for hosts it cannot reach
//   (docs/toolchain.md "Runtimes").  playwright's launch() gives every run a fresh temporary --user-data-dir.
// - firefox: Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core (playwright drives only its own
//   patched Firefox build, which cannot be downloaded here).  puppeteer's launch() writes a fresh temporary profile
//   whose prefs already turn off updates, telemetry and the other background connections.
// Both launchers are installed beside the toolchain (ci/provision-toolchain.sh), not in this repository.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { engineOf } from './browser_procs.mjs';

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

// Firefox: the protocol's own timeout is the job's (puppeteer's default, 180 s, would cut a big load's page.evaluate
// short); networkEnabled false, because with puppeteer's BiDi network monitoring on, Firefox's parent process kept
// a copy of every response (VmHWM 5.3 GB over far_offset's 4.8 GB file, 0.41 GB without), which the harness
// neither needs nor may count as the browser's.
const LAUNCHERS = {
  chromium: (require, job, executablePath, extraArgs) => require('playwright-core').chromium.launch({
    executablePath, headless: true, args: ['--headless', ...CHROMIUM_ARGS, ...extraArgs], timeout: 60000,
  }),
  firefox: (require, job, executablePath, extraArgs) => require('puppeteer-core').launch({
    browser: 'firefox', executablePath, headless: true, args: extraArgs, timeout: 60000,
    protocolTimeout: (job.timeoutMs ?? 900000) + 60000, networkEnabled: false,
  }),
};

let outFile = null;
let emitted = false;
let browser = null;
let ownFields = () => {};
const consoleTail = [];

/** Write the answer and exit; the first call wins, so a late error cannot print a second line. */
export function emit(result, code) {
  if (emitted) return;
  emitted = true;
  result.console = consoleTail.slice(-40);
  ownFields(result);
  const line = JSON.stringify(result);
  if (outFile) fs.writeFileSync(outFile, `${line}\n`);
  fs.writeSync(1, `\n${line}\n`);
  const done = () => process.exit(code);
  if (browser) browser.close().then(done, done);
  else done();
  setTimeout(done, 10000).unref(); // a browser that does not close must not hold the answer back
}

const failHarness = (e) =>
  emit({ ok: false, outputs: {}, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}`, stage: 'browser-harness' }, 1);

/**
 * Run `main(job)`, the job read from `name JOB.json [--out RESULT.json]`. `finish(result)` adds the driver's own
 * fields to every answer, a harness failure's too, after the console tail.
 */
export function runDriver(name, main, finish = () => {}) {
  ownFields = finish;
  process.on('uncaughtException', failHarness);
  process.on('unhandledRejection', failHarness);
  const start = async () => {
    const argv = process.argv.slice(2);
    const i = argv.indexOf('--out');
    if (i >= 0) outFile = argv[i + 1];
    if (!argv[0]) throw new Error(`usage: ${name} JOB.json [--out RESULT.json]`);
    return main(JSON.parse(fs.readFileSync(argv[0], 'utf8')));
  };
  start().catch(failHarness);
}

/** The job's engine name (chromium when the job names none). */
export const engineName = (job) => job.engine ?? 'chromium';

/** The job's browser, headless; `extraArgs` after the engine's own flags. */
export async function launchBrowser(job, extraArgs = []) {
  const name = engineName(job);
  engineOf(name); // an unknown engine is refused before anything starts
  const executablePath = job.executablePath;
  if (!executablePath) throw new Error(`the job names no browser executable (job.executablePath) for ${name}`);
  const modules = process.env.ORTWASM_NODE_MODULES ?? '/var/cache/ortwasm/node/node_modules';
  browser = await LAUNCHERS[name](createRequire(path.join(modules, 'noop.js')), job, executablePath, extraArgs);
  return browser;
}

/**
 * The harness page, loaded and ready for window.runJob. The page cannot see its own RSS: it asks the driver through
 * window.ortwasmSampleRss, answered by `sampleRss`. `onConsole` sees each console line whole (the tail keeps 2000
 * characters of each, and only the last 40).
 */
export async function openPage(launched, job, sampleRss, onConsole = () => {}) {
  const page = await launched.newPage();
  await page.exposeFunction('ortwasmSampleRss', sampleRss);
  page.on('console', (m) => {
    const text = `${m.type()}: ${m.text()}`;
    consoleTail.push(text.slice(0, 2000));
    onConsole(text);
  });
  page.on('pageerror', (e) => consoleTail.push(`pageerror: ${e.message}`.slice(0, 2000)));
  page.setDefaultTimeout(job.timeoutMs ?? 900000);
  await page.goto(job.pageUrl); // waits for `load`, which comes after the page's module script has run
  // one check, not waitForFunction: playwright and puppeteer order its arguments differently
  if (!(await page.evaluate(() => window.harnessReady === true))) {
    throw new Error(`the harness page did not get ready: ${consoleTail.slice(-3).join(' | ') || 'no console output'}`);
  }
  return page;
}

/** `fn(job)` evaluated in the page, or a failed result if the page is gone. */
export async function runInPage(page, fn, job) {
  try {
    return await page.evaluate(fn, job);
  } catch (e) {
    // the page died (renderer OOM/crash) or timed out: still one JSON line
    return { ok: false, outputs: {}, error: `page: ${e?.message ?? e}`, stage: 'browser' };
  }
}
