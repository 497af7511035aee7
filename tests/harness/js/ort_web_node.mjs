#!/usr/bin/env node
// Run one model through onnxruntime-web's PUBLIC API in Node 24, the way an application does, and print ONE JSON
// line with outputs, timings and memory. Usage:
//
//   node ort_web_node.mjs JOB.json [--out RESULT.json]
//
// JOB: {entry,              // the module to import: a package's dist/ort.node.min.mjs, or any ESM entry
//       wasmDir?,           // when set: env.wasm.wasmPaths = {mjs, wasm} in that dir (the official-dist route);
//                           // unset: the package finds its own pair (the drop-in route)
//       mjs?, wasm?,        // file names in wasmDir (default ort-wasm-simd-threaded.{mjs,wasm})
//       model, externalData: [{path, file}], dataAs: "bytes"|"path"|"url"|"blob"|"stream"|"bytestream",
//       inputs: {name: {dims, type, data}}, outputs: [names], numThreads, logLevel?, timeoutMs?,
//       sessions?,          // create/run/release this many times in a row (default 1): memory per session
//       extra?,             // the session's `extra` option, e.g. {"session.disable_prepacking": "1"}
//       runs?,              // session.run this many times in the first session (timings.run_ms_all)
//       truncateAt?}        // dataAs "url": the server sends this many bytes of each file, then drops the
//                           // connection (Content-Length still says the full size)
//
// dataAs: "bytes" reads each file into a Uint8Array first; "path" gives the path string; "url" serves the files
// from an HTTP server in this process and gives http:// URLs; "blob" gives fs.openAsBlob(file) (a file-backed
// Blob); "stream" gives a web ReadableStream over the file (no length attached); "bytestream" gives a byte stream
// (a file-backed Blob's .stream(), as a fetch body is one), also without a length.
//
// Nothing here knows about C symbols: what this proves, the package proves for its users. Memory is the kernel's
// high-water mark (VmHWM), read after each phase: a JS timer cannot sample while wasm blocks the thread.

import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { readWhole } from './read_whole.mjs';
import { writeResult } from './result.mjs';

const state = { stage: 'job', timings: {}, memory: {}, outFile: null, backend: null };
let emitted = false;

function procStatus() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(VmHWM|VmRSS):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

function emit(fields, code) {
  if (emitted) return;
  emitted = true;
  const st = procStatus();
  writeResult(state.outFile, {
    ...fields,
    timings: { ...state.timings, total_ms: performance.now() },
    memory: { peak_rss: st.VmHWM ?? null, rss_end: st.VmRSS ?? null, ...state.memory },
    backend: state.backend,
  }, code);
}

function errorText(e) {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : `non-Error thrown: ${JSON.stringify(e)}`;
}

function fail(e) {
  emit({ error: errorText(e), stage: state.stage }, state.stage === 'job' ? 2 : 1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

/** An HTTP server in this process serving `files` (host paths) at /ext<i>/<name>; see truncateAt above. */
async function serveFiles(files, truncateAt) {
  const server = http.createServer((req, res) => {
    const i = files.findIndex((f, k) => req.url === `/ext${k}/${encodeURIComponent(f.split('/').pop())}`);
    if (i < 0) {
      res.writeHead(404);
      res.end();
      return;
    }
    const size = fs.statSync(files[i]).size;
    res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
    const end = truncateAt === undefined || truncateAt === null ? undefined : Math.max(0, truncateAt - 1);
    const body = fs.createReadStream(files[i], end === undefined ? {} : { end });
    if (end === undefined) {
      body.pipe(res);
    } else {
      body.on('end', () => res.destroy());
      body.pipe(res, { end: false });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const base = `http://127.0.0.1:${server.address().port}`;
  return files.map((f, k) => `${base}/ext${k}/${encodeURIComponent(f.split('/').pop())}`);
}

async function externalSources(job, urls) {
  const list = job.externalData ?? [];
  const out = [];
  for (const [i, e] of list.entries()) {
    let data;
    if (job.dataAs === 'path') data = e.file;
    else if (job.dataAs === 'url') data = urls[i];
    else if (job.dataAs === 'blob') data = await fs.openAsBlob(e.file);
    else if (job.dataAs === 'stream') data = Readable.toWeb(fs.createReadStream(e.file));
    else if (job.dataAs === 'bytestream') data = (await fs.openAsBlob(e.file)).stream();
    else data = readWhole(e.file);
    out.push({ path: e.path, data });
  }
  return out;
}

function b64(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const TYPED = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
  bool: Uint8Array, float16: Uint16Array,
};

function toTensor(ort, spec) {
  const raw = Buffer.from(spec.data, 'base64');
  const Ctor = TYPED[spec.type];
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  const data = new Ctor(copy.buffer, 0, raw.length / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(spec.type, data, spec.dims);
}

async function main() {
  const argv = process.argv.slice(2);
  const outIdx = argv.indexOf('--out');
  if (outIdx >= 0) state.outFile = argv[outIdx + 1];
  const job = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  if (job.timeoutMs) setTimeout(() => fail(new Error(`timeout after ${job.timeoutMs} ms`)), job.timeoutMs).unref();

  state.stage = 'import';
  const ort = await import(pathToFileURL(job.entry).href);
  ort.env.wasm.numThreads = job.numThreads ?? 1;
  ort.env.logLevel = ['verbose', 'info', 'warning', 'error', 'fatal'][job.logLevel ?? 3];
  if (job.wasmDir) {
    const mjs = `${job.wasmDir}/${job.mjs ?? 'ort-wasm-simd-threaded.mjs'}`;
    const wasm = `${job.wasmDir}/${job.wasm ?? 'ort-wasm-simd-threaded.wasm'}`;
    ort.env.wasm.wasmPaths = { mjs: pathToFileURL(mjs).href, wasm: pathToFileURL(wasm).href };
    ort.env.wasm.wasmBinary = fs.readFileSync(wasm);
  }

  const urls = job.dataAs === 'url' ? await serveFiles((job.externalData ?? []).map((e) => e.file), job.truncateAt)
    : [];
  const sessions = Math.max(1, job.sessions ?? 1);
  let outputs = {};
  for (let round = 0; round < sessions; round++) {
    state.stage = 'read';
    const t0 = performance.now();
    const model = fs.readFileSync(job.model);
    const externalData = await externalSources(job, urls);
    state.timings.read_ms = performance.now() - t0;
    if (round === 0) state.memory.peak_rss_before_session = procStatus().VmHWM;

    state.stage = 'create';
    const t1 = performance.now();
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['wasm'], externalData, logSeverityLevel: job.logLevel ?? 3,
      ...(job.extra ? { extra: job.extra } : {}),
    });
    const sessionMs = performance.now() - t1;
    const afterCreate = procStatus();
    if (round === 0) {
      state.timings.session_ms = sessionMs;
      state.memory.peak_rss_after_session = afterCreate.VmHWM;
      state.memory.rss_after_session = afterCreate.VmRSS;
    }
    externalData.length = 0;

    state.stage = 'run';
    const feeds = {};
    for (const [name, spec] of Object.entries(job.inputs ?? {})) feeds[name] = toTensor(ort, spec);
    let results;
    const runMs = [];
    for (let r = 0; r < (round === 0 ? Math.max(1, job.runs ?? 1) : 1); r++) {
      const t2 = performance.now();
      results = await session.run(feeds);
      runMs.push(performance.now() - t2);
    }
    if (round === 0) {
      state.timings.run_ms = runMs[0];
      if (runMs.length > 1) state.timings.run_ms_all = runMs;
    }
    outputs = {};
    for (const name of job.outputs?.length ? job.outputs : Object.keys(results)) {
      const t = results[name];
      if (!t) throw new Error(`output ${name} missing from the results (${Object.keys(results)})`);
      const data = t.data instanceof Array ? Uint8Array.from(t.data) : t.data;
      outputs[name] = { dims: t.dims.map(Number), type: t.type, data: b64(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) };
    }
    state.stage = 'release';
    await session.release();
    if (job.sessions) {
      const after = procStatus();
      (state.memory.sessions ??= []).push({
        session_ms: sessionMs, peak_rss_after_session: afterCreate.VmHWM, rss_after_session: afterCreate.VmRSS,
        peak_rss_after_release: after.VmHWM, rss_after_release: after.VmRSS,
      });
    }
  }
  emit({ ok: true, outputs, stage: 'done' }, 0);
}

main().catch(fail);
