#!/usr/bin/env node
// One InferenceSession.create through onnxruntime-web's public API, timed phase by phase (bench/profile_load.py;
// run it under `node --cpu-prof`). Prints ONE JSON line (result.mjs). Usage:
//
//   node --cpu-prof --cpu-prof-dir=DIR profile_load.mjs JOB.json [--out RESULT.json]
//
// JOB: {entry, wasmDir, model, externalData: [{path, file}], dataAs: "path"|"bytes", enableProfiling?,
//       inputs, outputs, logLevel?, timeoutMs?}
//
// Why a wrapper module: the public API hides the emscripten module, and the phases worth separating are calls on
// it (mountExternalData*, _OrtCreateSession).  env.wasm.wasmPaths.mjs points at a generated module that imports the
// pair in wasmDir, lets the factory build the module as usual, then wraps those calls with performance.now()
// (durations only: memory is the kernel's VmHWM, never a timer).  The wrapper is the same code path otherwise:
// onnxruntime-web still decides everything.  `window_ns` (process.hrtime, CLOCK_MONOTONIC like V8's profiler
// clock) lets the profile summary keep only the samples taken during create.
// enableProfiling: ORT's own profiler, on wasm, writes its JSON to std::cout (onnxruntime/core/common/profiler.cc:
// no file under __wasm__); the glue writes stdout with fs.writeSync(1, ...) in Node (Module.print is not read by
// this build), so fd 1 is collected while session.endProfiling() runs.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { readWhole } from './read_whole.mjs';
import { writeResult } from './result.mjs';

const state = { stage: 'job', timings: {}, memory: {}, outFile: null, extra: {} };
const phases = { factory_ms: null, mounts: [], create_session: [], ort_init: [] };

function procStatus() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(VmHWM|VmRSS):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

function emit(fields, code) {
  const st = procStatus();
  writeResult(state.outFile, {
    ...fields, ...state.extra,
    timings: { ...state.timings, total_ms: performance.now() },
    memory: { peak_rss: st.VmHWM ?? null, rss_end: st.VmRSS ?? null, ...state.memory },
  }, code);
}
const fail = (e) => emit({ error: e instanceof Error ? `${e.message}` : String(e), stage: state.stage }, 1);
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

/** Wrap m[name] so every call's [start, end] (performance.now) lands in `into` (async results awaited). */
function timeCalls(m, name, into) {
  const orig = m[name];
  if (typeof orig !== 'function') return;
  m[name] = function (...args) {
    const rec = { name, start: performance.now(), end: null };
    into.push(rec);
    const done = () => { rec.end = performance.now(); };
    const r = orig.apply(this, args);
    if (r && typeof r.then === 'function') return r.finally(done);
    done();
    return r;
  };
}

globalThis.__ortwasmInstrument = (m, factoryMs) => {
  phases.factory_ms = factoryMs;
  timeCalls(m, 'mountExternalDataStreaming', phases.mounts);
  timeCalls(m, 'mountExternalData', phases.mounts);
  timeCalls(m, '_OrtCreateSession', phases.create_session);
  timeCalls(m, '_OrtInit', phases.ort_init);
};

function writeWrapper(dir, glue) {
  const file = path.join(dir, 'ort-wasm-profile-wrapper.mjs');
  fs.writeFileSync(file, `import factory from ${JSON.stringify(pathToFileURL(glue).href)};
export default async function (config) {
  const t0 = performance.now();
  const m = await factory(config);
  globalThis.__ortwasmInstrument(m, performance.now() - t0);
  return m;
}
`);
  return file;
}

/** The union of [start, end] intervals, in ms: nested or concurrent calls are counted once. */
function unionMs(recs) {
  const iv = recs.filter((r) => r.end !== null).map((r) => [r.start, r.end]).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur = null;
  for (const [s, e] of iv) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  return cur ? total + cur[1] - cur[0] : 0;
}

const TYPED = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array };

async function main() {
  const argv = process.argv.slice(2);
  const outIdx = argv.indexOf('--out');
  if (outIdx >= 0) state.outFile = argv[outIdx + 1];
  const job = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  if (job.timeoutMs) setTimeout(() => fail(new Error(`timeout after ${job.timeoutMs} ms`)), job.timeoutMs).unref();

  state.stage = 'import';
  const ort = await import(pathToFileURL(job.entry).href);
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = ['verbose', 'info', 'warning', 'error', 'fatal'][job.logLevel ?? 3];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ortwasm-profile-'));
  const wrapper = writeWrapper(tmp, path.join(job.wasmDir, 'ort-wasm-simd-threaded.mjs'));
  const wasm = path.join(job.wasmDir, 'ort-wasm-simd-threaded.wasm');
  ort.env.wasm.wasmPaths = { mjs: pathToFileURL(wrapper).href, wasm: pathToFileURL(wasm).href };

  state.stage = 'read';
  const t0 = performance.now();
  const model = fs.readFileSync(job.model);
  const externalData = (job.externalData ?? []).map((e) => ({
    path: e.path, data: job.dataAs === 'bytes' ? readWhole(e.file) : e.file,
  }));
  state.timings.read_ms = performance.now() - t0;
  state.memory.peak_rss_before_session = procStatus().VmHWM;

  state.stage = 'create';
  const ru0 = process.resourceUsage();
  const w0 = process.hrtime.bigint();
  const t1 = performance.now();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'], externalData, logSeverityLevel: job.logLevel ?? 3,
    enableProfiling: !!job.enableProfiling,
  });
  const t2 = performance.now();
  const w1 = process.hrtime.bigint();
  const ru1 = process.resourceUsage();
  const after = procStatus();
  state.memory.peak_rss_after_session = after.VmHWM;
  state.memory.rss_after_session = after.VmRSS;
  const sessionMs = t2 - t1;
  const mountMs = unionMs(phases.mounts);
  const createMs = unionMs(phases.create_session);
  state.timings.session_ms = sessionMs;
  state.extra.window_ns = [w0.toString(), w1.toString()];
  state.extra.phases = {
    session_ms: sessionMs,
    backend_init_ms: phases.factory_ms, // wasm compile + instantiate + glue start (inside the first create)
    mount_ms: mountMs, mount_calls: phases.mounts.map((r) => ({ name: r.name, ms: r.end - r.start })),
    ort_create_session_ms: createMs,
    ort_init_ms: unionMs(phases.ort_init),
    // importing the glue and the .wasm read, session options, the model's copy into the heap, unmounting
    rest_ms: sessionMs - mountMs - createMs - (phases.factory_ms ?? 0) - unionMs(phases.ort_init),
    // wall-clock order: backend init, then the mounts, then OrtCreateSession
    mount_start_ms: phases.mounts.length ? Math.min(...phases.mounts.map((r) => r.start)) - t1 : null,
    create_start_ms: phases.create_session.length ? phases.create_session[0].start - t1 : null,
  };
  state.extra.rusage = {
    user_cpu_ms: (ru1.userCPUTime - ru0.userCPUTime) / 1e3, system_cpu_ms: (ru1.systemCPUTime - ru0.systemCPUTime) / 1e3,
    minor_faults: ru1.minorPageFault - ru0.minorPageFault, major_faults: ru1.majorPageFault - ru0.majorPageFault,
    fs_read_blocks: ru1.fsRead - ru0.fsRead,
  };
  externalData.length = 0;

  state.stage = 'run';
  const feeds = {};
  for (const [name, spec] of Object.entries(job.inputs ?? {})) {
    const raw = Buffer.from(spec.data, 'base64');
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    feeds[name] = new ort.Tensor(spec.type, new TYPED[spec.type](copy.buffer), spec.dims);
  }
  const results = await session.run(feeds);
  const outputs = {};
  for (const name of job.outputs?.length ? job.outputs : Object.keys(results)) {
    const d = results[name].data;
    outputs[name] = { dims: results[name].dims.map(Number), type: results[name].type,
                      data: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64') };
  }
  if (job.enableProfiling) {
    state.stage = 'profile';
    const lines = [];
    const writeSync = fs.writeSync;
    fs.writeSync = (fd, data, ...rest) => (fd === 1 ? (lines.push(String(data)), String(data).length)
      : writeSync.call(fs, fd, data, ...rest));
    try {
      await session.endProfiling();
    } finally {
      fs.writeSync = writeSync;
    }
    const text = lines.join('');
    const start = text.indexOf('[');
    try {
      state.extra.ort_profile = JSON.parse(text.slice(start, text.lastIndexOf(']') + 1));
    } catch (e) {
      state.extra.ort_profile_error = `ORT's profile did not parse (${e.message}): ${text.slice(0, 300)}`;
    }
  }
  state.stage = 'release';
  await session.release();
  emit({ ok: true, outputs, stage: 'done' }, 0);
}

main().catch(fail);
