#!/usr/bin/env node
// Heap-backed external data (onnxruntime/wasm/pre-memfs.js, MEMFS builds) seen from the module itself: what
// onnxruntime-web's public API cannot show. Prints ONE JSON line. Usage:
//
//   node heap_external_data.mjs JOB.json [--out RESULT.json]
//
// JOB: {artifactDir, mjs?, wasm?, model, externalData: [{path, file}], numThreads?, scenario, truncateAt?,
//       backing? (the mount option: 'heap', 'file', 'js'; default 'auto')}
//
// scenario "lifecycle": mount every file with Module.mountExternalDataStreaming(path, file), create a session
//   through the C API (as onnxruntime-web does), unmount, release the session; Module.externalDataStatus() after
//   each step (result.status.{mounted,created,unmounted,released}).
// scenario "wrapped": wrap Module._OrtCreateSession and _OrtAddSessionConfigEntry as a profiler does (keep the
//   function, assign one that calls it), then create two sessions; how often each wrapper ran (result.calls) and
//   the status after (status.created).
// scenario "truncated": serve each file over HTTP from this process, dropping the connection after truncateAt
//   bytes, and mount it from its URL; the error message and the status afterwards (result.errors, status.after).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { writeResult } from './result.mjs';

const state = { stage: 'job', outFile: null };

function fail(e) {
  writeResult(state.outFile, { error: e instanceof Error ? e.message : String(e), stage: state.stage }, 1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const num = (v) => {
  const n = Number(v ?? 0);
  return n < 0 ? n >>> 0 : n;
};

function lastError(M) {
  const ps = Number(M.PTR_SIZE ?? 4);
  const stack = M.stackSave();
  try {
    const p = num(M.stackAlloc(2 * ps));
    M._OrtGetLastError(p, p + ps);
    const msg = num(M.getValue(p + ps, '*'));
    return msg ? M.UTF8ToString(msg) : '(no message)';
  } finally {
    M.stackRestore(stack);
  }
}

function createSession(M, modelBytes) {
  const opts = num(M._OrtCreateSessionOptions(99, false, false, 0, false, 0, 0, 2, 0, 0));
  if (!opts) throw new Error(`OrtCreateSessionOptions: ${lastError(M)}`);
  const ptr = num(M._malloc(modelBytes.byteLength));
  try {
    M.getValue(0, 'i8');
    new Uint8Array(M.HEAPU8.buffer, ptr, modelBytes.byteLength).set(modelBytes);
    return M._OrtCreateSession(ptr, modelBytes.byteLength, opts);
  } finally {
    M._free(ptr);
    M._OrtReleaseSessionOptions(opts);
  }
}

async function serveTruncated(files, truncateAt) {
  const server = http.createServer((req, res) => {
    const i = Number(req.url.split('/')[1]);
    const size = fs.statSync(files[i]).size;
    res.writeHead(200, { 'Content-Length': String(size) });
    const body = fs.createReadStream(files[i], { end: truncateAt - 1 });
    body.on('end', () => res.destroy());
    body.pipe(res, { end: false });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return files.map((f, i) => `http://127.0.0.1:${server.address().port}/${i}/${path.basename(f)}`);
}

async function main() {
  const argv = process.argv.slice(2);
  const outIdx = argv.indexOf('--out');
  if (outIdx >= 0) state.outFile = argv[outIdx + 1];
  const job = JSON.parse(fs.readFileSync(argv[0], 'utf8'));

  state.stage = 'load';
  const mjs = path.join(job.artifactDir, job.mjs ?? 'ort-wasm-simd-threaded.mjs');
  const wasm = path.join(job.artifactDir, job.wasm ?? 'ort-wasm-simd-threaded.wasm');
  const factory = (await import(pathToFileURL(mjs).href)).default;
  const threads = job.numThreads ?? 1;
  const M = await factory({ wasmBinary: fs.readFileSync(wasm), numThreads: threads });
  if (typeof M.mountExternalDataStreaming !== 'function' || typeof M.externalDataStatus !== 'function') {
    throw new Error('this glue has no Module.mountExternalDataStreaming / externalDataStatus (not a MEMFS build?)');
  }
  if (M._OrtInit(threads, 3) !== 0) throw new Error(`OrtInit: ${lastError(M)}`);
  const files = job.externalData ?? [];
  const status = {};
  const result = { ok: true, stage: 'done', status };

  if (job.scenario === 'lifecycle') {
    state.stage = 'mount';
    result.mounts = [];
    const opts = { logSeverityLevel: 3, ...(job.backing ? { backing: job.backing } : {}) };
    for (const f of files) result.mounts.push(await M.mountExternalDataStreaming(f.path, f.file, opts));
    status.mounted = M.externalDataStatus();
    state.stage = 'create';
    const session = num(createSession(M, fs.readFileSync(job.model)));
    if (!session) throw new Error(`OrtCreateSession: ${lastError(M)}`);
    status.created = M.externalDataStatus();
    M.unmountExternalData();
    status.unmounted = M.externalDataStatus();
    state.stage = 'release';
    if (M._OrtReleaseSession(session) !== 0) throw new Error(`OrtReleaseSession: ${lastError(M)}`);
    status.released = M.externalDataStatus();
  } else if (job.scenario === 'wrapped') {
    result.calls = { _OrtCreateSession: 0, _OrtAddSessionConfigEntry: 0 };
    for (const name of Object.keys(result.calls)) {
      const orig = M[name];
      M[name] = (...args) => {
        result.calls[name] += 1;
        return orig(...args);
      };
    }
    state.stage = 'mount';
    for (const f of files) await M.mountExternalDataStreaming(f.path, f.file, { logSeverityLevel: 3, backing: 'heap' });
    state.stage = 'create';
    const model = fs.readFileSync(job.model);
    const sessions = [num(createSession(M, model)), num(createSession(M, model))];
    if (!sessions.every(Boolean)) throw new Error(`OrtCreateSession: ${lastError(M)}`);
    status.created = M.externalDataStatus();
    M.unmountExternalData();
    for (const s of sessions) M._OrtReleaseSession(s);
  } else if (job.scenario === 'truncated') {
    state.stage = 'mount';
    const urls = await serveTruncated(files.map((f) => f.file), job.truncateAt);
    result.errors = [];
    for (const [i, f] of files.entries()) {
      try {
        await M.mountExternalDataStreaming(f.path, urls[i], { logSeverityLevel: 3 });
        result.errors.push(null);
      } catch (e) {
        result.errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    status.after = M.externalDataStatus();
  } else {
    throw new Error(`unknown scenario ${job.scenario}`);
  }
  writeResult(state.outFile, result, 0);
}

main().catch(fail);
