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
// scenario "loader": the WebGPU EP's loader (Module.ortLoadExternalDataAsync, memfs-webgpu.patch's import) without a
//   GPU: mount every file from job.sourceKind ('bytes', 'blob', 'url': a Range-answering server, 'url-norange': one
//   that ignores Range, 'path'), as a WebGPU session would (Module.webgpuRegisterDevice called first, when
//   job.webgpuSession); then, for each [file index, offset, length] of job.reads, load the range into a heap buffer
//   (load type 0) and compare it with the file's bytes.  result.reads: [{code, equal}], result.ranges: the Range
//   requests the server answered with 206, result.mounts, result.heapBefore/After (HEAPU8.length) and
//   result.codes: the loader's answer for a file not mounted and for a range past the end.
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

/** Serve `files` over HTTP from this process; with `ranges`, single Range requests get 206 (else always 200). */
async function serveRanges(files, ranges) {
  let answered = 0;
  const server = http.createServer((req, res) => {
    const file = files[Number(req.url.split('/')[1])];
    const size = fs.statSync(file).size;
    const m = ranges ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') : null;
    if (m && Number(m[1]) < size) {
      const [first, last] = [Number(m[1]), Math.min(Number(m[2]), size - 1)];
      answered += 1;
      res.writeHead(206, { 'Content-Length': String(last - first + 1), 'Content-Range': `bytes ${first}-${last}/${size}` });
      fs.createReadStream(file, { start: first, end: last }).pipe(res);
      return;
    }
    res.writeHead(200, { 'Content-Length': String(size) });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const port = server.address().port;
  return { urls: files.map((f, i) => `http://127.0.0.1:${port}/${i}/${path.basename(f)}`), ranges: () => answered };
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
  } else if (job.scenario === 'loader') {
    state.stage = 'serve';
    const served = await serveRanges(files.map((f) => f.file), job.sourceKind === 'url');
    state.stage = 'mount';
    if (job.webgpuSession) {
      M.webgpuRegisterDevice = () => undefined;  // what post-webgpu.js's webgpuInit does, without a GPU
      M.webgpuRegisterDevice(undefined);
    }
    result.heapBefore = M.HEAPU8.length;
    result.mounts = [];
    const opts = { logSeverityLevel: 3, ...(job.backing ? { backing: job.backing } : {}) };
    for (const [i, f] of files.entries()) {
      const source = {
        bytes: () => new Uint8Array(fs.readFileSync(f.file)),
        blob: () => new Blob([fs.readFileSync(f.file)]),
        url: () => served.urls[i],
        'url-norange': () => served.urls[i],
        path: () => f.file,
      }[job.sourceKind]();
      result.mounts.push(job.sourceKind === 'bytes' ? M.mountExternalData(f.path, source, opts)
                                                    : await M.mountExternalDataStreaming(f.path, source, opts));
    }
    result.heapAfterMount = M.HEAPU8.length;
    state.stage = 'load';
    const withPath = (name, fn) => {
      const p = num(M._malloc(name.length * 4 + 1));
      M.stringToUTF8(name, p, name.length * 4 + 1);
      return fn(p).finally(() => M._free(p));
    };
    result.reads = [];
    for (const [i, offset, length] of job.reads) {
      const dst = num(M._malloc(Math.max(1, length)));
      try {
        const code = await withPath(files[i].path, (p) => M.ortLoadExternalDataAsync(p, offset, length, dst, 0));
        const want = fs.readFileSync(files[i].file).subarray(offset, offset + length);
        const got = new Uint8Array(M.HEAPU8.buffer, dst, length);
        result.reads.push({ code, equal: code === 0 && Buffer.compare(Buffer.from(got), want) === 0 });
      } finally {
        M._free(dst);
      }
    }
    if (job.gpu) {
      // load type 1 into a stand-in GPUDevice that keeps what is written, counts writes between
      // onSubmittedWorkDone calls, and, for `refuse`, reports a validation error the way WebGPU does: to the
      // innermost matching error scope, never as an exception
      const log = { writes: 0, inFlight: 0, maxInFlight: 0, pushed: 0 };
      const scopes = [];
      let refuse = false;
      const device = {
        queue: {
          writeBuffer(buffer, at, bytes, from, n) {
            if (n % 4 !== 0 || at % 4 !== 0) throw new Error(`writeBuffer(${at}, ${n}): not a multiple of 4`);
            buffer.data.set(bytes.subarray(from, from + n), at);
            log.writes += 1;
            log.inFlight += 1;
            log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
            const scope = scopes.findLast((sc) => sc.filter === 'validation');
            if (refuse && scope && !scope.error) scope.error = { message: 'stand-in: the buffer was destroyed' };
          },
          onSubmittedWorkDone: async () => { log.inFlight = 0; },
        },
        pushErrorScope(filter) { scopes.push({ filter, error: null }); log.pushed += 1; },
        popErrorScope: async () => {
          if (!scopes.length) throw new Error('popErrorScope: no scope');
          return scopes.pop().error;
        },
      };
      const gpuBuffer = (bytes) => {  // ORT rounds a GPU buffer up to 16 bytes (webgpu/buffer_manager.cc)
        const size = Math.ceil(bytes / 16) * 16;
        return { size, data: new Uint8Array(size) };
      };
      result.gpuReads = [];
      for (const [i, offset, length] of job.reads) {
        const buffer = gpuBuffer(length);
        const code = await withPath(files[i].path, (p) => M.ortLoadExternalDataAsync(p, offset, length, 0, 1, buffer, device));
        const want = fs.readFileSync(files[i].file).subarray(offset, offset + length);
        result.gpuReads.push({ code, equal: code === 0 && Buffer.compare(Buffer.from(buffer.data.subarray(0, length)), want) === 0 });
      }
      const small = gpuBuffer(1000);
      result.gpuCodes = { tooSmall: await withPath(files[1].path, (p) => M.ortLoadExternalDataAsync(p, 0, 1024, 0, 1, small, device)) };
      refuse = true;
      result.gpuCodes.refused = await withPath(files[1].path, (p) => M.ortLoadExternalDataAsync(p, 0, 1024, 0, 1, gpuBuffer(1024), device));
      result.gpu = { ...log, scopesLeft: scopes.length };
    }
    const dst = num(M._malloc(16));
    result.codes = {
      notMounted: await withPath('/no/such/file', (p) => M.ortLoadExternalDataAsync(p, 0, 4, dst, 0)),
      pastEnd: await withPath(files[0].path, (p) => M.ortLoadExternalDataAsync(p, fs.statSync(files[0].file).size - 2, 4, dst, 0)),
      badType: await withPath(files[0].path, (p) => M.ortLoadExternalDataAsync(p, 0, 4, dst, 1)),
    };
    M._free(dst);
    result.ranges = served.ranges();
    result.heapAfter = M.HEAPU8.length;
    status.loaded = M.externalDataStatus();
    M.unmountExternalData();
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
