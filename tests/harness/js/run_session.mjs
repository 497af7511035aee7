#!/usr/bin/env node
// Node 24 harness: load one ONNX Runtime wasm artifact, mount a model's external data, create a session, run it
// once, and print ONE JSON line with outputs, timings and memory. Usage:
//
//   node --expose-gc run_session.mjs JOB.json [--out RESULT.json]
//
// JOB: {artifactDir, mjs, wasm, model, externalData: [{path, file}], mount: "api"|"fs"|"mounted-files",
//       inputs: {name: {dims, type, data}}, outputs: [names], numThreads, wasm64, logLevel?, timeoutMs?,
//       glue: {ptr_size, index_i64, has_fs}}   (glue facts from ortwasm.checks.glue: one parser, in Python)
//
// Why a separate process per job: a failing artifact may abort, leak threads, or hang in its thread pool; a fresh
// process keeps every job's RSS figure honest and lets the caller kill a hang. Whatever happens, exactly one JSON
// line comes out (also written to --out), and the exit code is 0 (ok), 1 (the artifact failed) or 2 (bad job).

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { writeResult } from './result.mjs';
import { captureInstances, checkGlue, decodeTensor, describeError, HarnessError, runFlow } from './ort_flow.mjs';

const CHUNK = 64 * 1024 * 1024;
const state = { stage: 'job', timings: {}, memory: {}, glue: null, module: null, outFile: null };
let emitted = false;

function memorySnapshot() {
  const mu = process.memoryUsage();
  return { rss: mu.rss, array_buffers: mu.arrayBuffers, peak_rss: process.resourceUsage().maxRSS * 1024 };
}

function wasmHeapBytes() {
  try {
    const M = state.module;
    if (!M) return null;
    M.getValue(0, 'i8'); // refresh views after a grow in a worker
    return M.HEAPU8.buffer.byteLength;
  } catch {
    return null;
  }
}

function emit(fields, code) {
  if (emitted) return;
  emitted = true;
  const snap = memorySnapshot();
  writeResult(state.outFile, {
    ...fields,
    timings: { ...state.timings, total_ms: performance.now() },
    memory: {
      peak_rss: snap.peak_rss,
      rss_after_session: state.memory.rss_after_session ?? null,
      array_buffers_after_session: state.memory.array_buffers_after_session ?? null,
      wasm_heap_bytes: wasmHeapBytes(),
      array_buffers: snap.array_buffers,
      rss_end: snap.rss,
    },
    glue: state.glue,
  }, code);
}

function fail(e) {
  const d = describeError(e);
  if (!(e instanceof HarnessError)) d.stage = `${state.stage}:${d.stage}`;
  emit(d, d.stage.startsWith('job') ? 2 : 1);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

/** fs.readFileSync refuses files over 2 GiB: read into one preallocated array, chunk by chunk, by position. */
export function readBig(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const out = new Uint8Array(size);
    let pos = 0;
    while (pos < size) {
      const n = fs.readSync(fd, out, pos, Math.min(CHUNK, size - pos), pos);
      if (n <= 0) throw new HarnessError('read', `${file}: short read at ${pos} of ${size}`);
      pos += n;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Read the model and the external data into the job runFlow takes. A plain (not async) function on purpose: a
 * suspended async function keeps its dead locals alive in its register file, and a `bytes` local left there would
 * pin a multi-GiB array after unmount and spoil the RSS-after-session figure (measured: it did).
 */
function readJobData(job, M, glue) {
  const files = [];
  let externalBytes = 0;
  for (const e of job.externalData) {
    if (!fs.existsSync(e.file)) {
      throw new HarnessError('read', `external data file for "${e.path}" does not exist on the host: ${e.file}`);
    }
    files.push({ path: e.path, bytes: readBig(e.file) });
    externalBytes += files[files.length - 1].bytes.byteLength;
  }
  return {
    modelBytes: readBig(job.model),
    files,
    externalBytes,
    mount: job.mount,
    inputs: Object.entries(job.inputs).map(([name, spec]) => decodeTensor(name, spec)),
    outputs: job.outputs,
    numThreads: job.numThreads,
    logLevel: job.logLevel,
    hasFs: glue.has_fs || typeof M.FS_createDataFile === 'function',
    timings: state.timings,
  };
}

function parseArgs(argv) {
  const args = { job: null, out: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') args.out = argv[++i];
    else if (!args.job) args.job = argv[i];
    else throw new HarnessError('job', `unexpected argument ${argv[i]}`);
  }
  if (!args.job) throw new HarnessError('job', 'usage: run_session.mjs JOB.json [--out RESULT.json]');
  return args;
}

function loadJob(file) {
  const job = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const k of ['artifactDir', 'model']) {
    if (typeof job[k] !== 'string') throw new HarnessError('job', `job.${k} must be a path string`);
  }
  job.mount ??= 'api';
  if (!['api', 'fs', 'mounted-files'].includes(job.mount)) throw new HarnessError('job', `bad mount ${job.mount}`);
  job.externalData ??= [];
  job.inputs ??= {};
  job.outputs ??= [];
  job.numThreads = Number(job.numThreads ?? 1);
  return job;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  state.outFile = args.out;
  const job = loadJob(args.job);
  if (job.timeoutMs) {
    setTimeout(() => emit({ error: `timed out after ${job.timeoutMs} ms`, stage: `${state.stage}:timeout` }, 1),
      job.timeoutMs);
  }

  state.stage = 'glue';
  const mjsPath = path.resolve(job.artifactDir, job.mjs ?? 'ort-wasm-simd-threaded.mjs');
  const wasmPath = path.resolve(job.artifactDir, job.wasm ?? 'ort-wasm-simd-threaded.wasm');
  state.glue = checkGlue(job.glue, { wasm64: job.wasm64 });
  const importPath = mjsPath;

  state.stage = 'instantiate';
  let t = performance.now();
  const wasmBinary = readBig(wasmPath); // emscripten's fetch() fails on file paths under Node
  const factory = (await import(pathToFileURL(importPath).href)).default;
  const capture = captureInstances();
  let M;
  try {
    M = await factory({ numThreads: job.numThreads, wasmBinary });
  } finally {
    capture.restore();
  }
  state.module = M;
  state.timings.instantiate_ms = performance.now() - t;
  const ptrSize = Number(M.PTR_SIZE ?? 4);
  if (job.wasm64 !== undefined && job.wasm64 !== null && ptrSize !== (job.wasm64 ? 8 : 4)) {
    throw new HarnessError('instantiate', `job says wasm64=${job.wasm64} but Module.PTR_SIZE is ${ptrSize}`);
  }

  state.stage = 'read';
  t = performance.now();
  const flowJob = readJobData(job, M, state.glue);
  state.timings.read_ms = performance.now() - t;
  state.stage = 'flow';
  const externalBytes = flowJob.externalBytes;
  const hooks = {
    table: capture.table,
    afterSession: async () => {
      // run with --expose-gc: the unmounted bytes are garbage now, measure without them. V8 frees ArrayBuffer
      // backing stores on a background sweeper, so collect, let it run, and collect again.
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 200));
      globalThis.gc?.();
      const snap = memorySnapshot();
      state.memory.rss_after_session = snap.rss;
      state.memory.array_buffers_after_session = snap.array_buffers;
    },
  };
  let result;
  try {
    result = await runFlow(M, flowJob, hooks);
  } catch (e) {
    const d = describeError(e);
    emit({ ...d, external_bytes: externalBytes, warnings: flowJob.warnings ?? [], ptr_size: ptrSize }, 1);
    return;
  }
  emit(
    {
      ok: true,
      outputs: result.outputs,
      input_names: result.input_names,
      output_names: result.output_names,
      mounted: result.mounted,
      external_bytes: externalBytes,
      ptr_size: ptrSize,
      warnings: flowJob.warnings ?? [],
    },
    0,
  );
}

main().catch(fail);
