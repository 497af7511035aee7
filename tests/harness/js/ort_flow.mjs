// The ONNX Runtime WebAssembly C API flow, as onnxruntime-web 1.21.0's lib/wasm/wasm-core-impl.ts drives it,
// used by the Node harness (run_session.mjs).
//
// Why a copy of the calling convention and not onnxruntime-web itself: the point is to prove that *our* .wasm/.mjs
// pair works through the exact exports onnxruntime-web calls, on wasm32 and wasm64, and to report failures as data
// (never as an abort), which onnxruntime-web's own wrapper does not promise. Where onnxruntime-web 1.21.0 is wrong
// on wasm64 this file does the right thing and says so in a comment:
//   - OrtGetLastError writes an `int` error code: read 4 bytes (onnxruntime-web reads 'i64' when PTR_SIZE is 8).
//   - OrtCreateTensor's dims are size_t: allocate PTR_SIZE bytes per dim (onnxruntime-web allocates 4 per dim).
// Pointers: with MEMORY64 and SIGNATURE_CONVERSIONS (cmake/onnxruntime_webassembly.cmake), every 'p' argument of
// the listed exports takes a Number (the glue wraps it in BigInt) and every 'p' result comes back as a Number.
// An export missing from that list throws a TypeError about BigInt: we turn that into a 'calling-convention' error
// naming the export instead of guessing.

export const TENSOR_TYPES = Object.freeze({
  float32: { code: 1, bytes: 4 },
  uint8: { code: 2, bytes: 1 },
  int8: { code: 3, bytes: 1 },
  uint16: { code: 4, bytes: 2 },
  int16: { code: 5, bytes: 2 },
  int32: { code: 6, bytes: 4 },
  int64: { code: 7, bytes: 8 },
  bool: { code: 9, bytes: 1 },
  float16: { code: 10, bytes: 2 },
  float64: { code: 11, bytes: 8 },
  uint32: { code: 12, bytes: 4 },
  uint64: { code: 13, bytes: 8 },
});
const TYPE_BY_CODE = new Map(Object.entries(TENSOR_TYPES).map(([name, t]) => [t.code, name]));
const ARRAY_CTORS = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float64: Float64Array, uint32: Uint32Array,
  uint64: BigUint64Array,
};
export const DATA_LOCATION_CPU = 1; // onnxruntime-web dataLocationStringToEnum('cpu')
export const LOG_LEVELS = Object.freeze({ verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 });
const GRAPH_OPT_ALL = 99;

/** A failure with the stage it happened in; the runners turn it into the JSON error. */
export class HarnessError extends Error {
  constructor(stage, message, extra = {}) {
    super(message);
    this.stage = stage;
    this.extra = extra;
  }
}

// ---------------------------------------------------------------- glue facts (computed in Python: ortwasm/checks/glue.py)

/**
 * Refuse a glue that cannot run as the job asks, before instantiating anything. `facts` = {ptr_size, index_i64,
 * has_fs}, read from the .mjs by ortwasm.checks.glue / ortwasm.toolchain.gluefix (one parser, in Python) and handed over in the job.
 */
export function checkGlue(facts, { wasm64 }) {
  const info = { ...facts };
  if (wasm64 !== undefined && wasm64 !== null && info.ptr_size !== null && info.ptr_size !== (wasm64 ? 8 : 4)) {
    throw new HarnessError('glue', `job says wasm64=${wasm64} but the glue sets PTR_SIZE=${info.ptr_size}`,
      { glue: info });
  }
  if (info.index_i64 > 0) {
    throw new HarnessError(
      'glue',
      `the .mjs still creates its 64-bit memory with index:"i64" (${info.index_i64} place(s)); emscripten 3.1.69 ` +
        'emits the old key, which Node 24 and Chrome ignore (RangeError on maximum). The build stage must rewrite ' +
        'it to address:"i64".',
      { glue: info },
    );
  }
  return info;
}

// ---------------------------------------------------------------- bytes <-> base64 (Node and browser)

export function base64ToBytes(s) {
  if (globalThis.Buffer) {
    const b = globalThis.Buffer.from(s, 'base64');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(u8) {
  if (globalThis.Buffer) return globalThis.Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');
  if (u8.toBase64) return u8.toBase64();
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Input tensor from the job: data is base64 of little-endian bytes, or a plain list. */
export function decodeTensor(name, spec) {
  const type = TENSOR_TYPES[spec.type];
  if (!type) throw new HarnessError('inputs', `input ${name}: unsupported type ${spec.type}`);
  const dims = spec.dims.map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  let bytes;
  if (typeof spec.data === 'string') {
    bytes = base64ToBytes(spec.data);
  } else {
    const Ctor = ARRAY_CTORS[spec.type];
    if (!Ctor) throw new HarnessError('inputs', `input ${name}: type ${spec.type} needs base64 data`);
    const big = Ctor === BigInt64Array || Ctor === BigUint64Array;
    const arr = Ctor.from(spec.data, (v) => (big ? BigInt(v) : Number(v)));
    bytes = new Uint8Array(arr.buffer);
  }
  if (bytes.byteLength !== count * type.bytes) {
    throw new HarnessError('inputs', `input ${name}: ${bytes.byteLength} bytes for dims [${dims}] of ${spec.type}`);
  }
  return { name, type: spec.type, dims, bytes };
}

// ---------------------------------------------------------------- heap access

/**
 * Views on the wasm memory, re-made on every access: with pthreads the memory is a growable SharedArrayBuffer,
 * and a grow done by a worker leaves the main thread's HEAPU8 on the old, shorter buffer. The glue's own getValue
 * refreshes its views when it sees a new buffer, so we call it once before taking Module.HEAPU8.buffer.
 */
class Heap {
  constructor(M) {
    this.M = M;
    this.ptrSize = Number(M.PTR_SIZE ?? 4);
  }
  buffer() {
    this.M.getValue(0, 'i8');
    return this.M.HEAPU8.buffer;
  }
  byteLength() {
    return this.buffer().byteLength;
  }
  dv() {
    return new DataView(this.buffer());
  }
  readI32(p) {
    return this.dv().getInt32(p, true);
  }
  readSize(p) {
    const dv = this.dv();
    return this.ptrSize === 4 ? dv.getUint32(p, true) : Number(dv.getBigUint64(p, true));
  }
  writeSize(p, v) {
    const dv = this.dv();
    if (this.ptrSize === 4) dv.setUint32(p, Number(v), true);
    else dv.setBigUint64(p, BigInt(v), true);
  }
  copyIn(bytes, p) {
    new Uint8Array(this.buffer(), p, bytes.byteLength).set(bytes);
  }
  copyOut(p, n) {
    return new Uint8Array(this.buffer(), p, n).slice();
  }
}

function call(M, name, ...args) {
  const f = M[name];
  if (typeof f !== 'function') throw new HarnessError('api', `${name} is not exported by this glue`);
  try {
    return f(...args);
  } catch (e) {
    if (e instanceof TypeError && /BigInt/.test(String(e.message))) {
      throw new HarnessError(
        'calling-convention',
        `${name} threw "${e.message}" when given Number pointers: on wasm64 this export is missing from ` +
          'SIGNATURE_CONVERSIONS (cmake/onnxruntime_webassembly.cmake), so its i64 parameters want BigInt',
      );
    }
    throw e;
  }
}
// Pointers and handles as JS Numbers. wasm32 exports return i32, so a pointer past 2 GiB (the heap may grow to
// 4 GiB) arrives negative: make it unsigned. wasm64 results come as Number (SIGNATURE_CONVERSIONS) or BigInt.
const num = (v) => {
  const n = Number(v ?? 0);
  return n < 0 ? n >>> 0 : n;
};

function lastError(M, heap, stage, what) {
  const ps = heap.ptrSize;
  const stack = M.stackSave();
  try {
    const p = num(M.stackAlloc(2 * ps));
    call(M, '_OrtGetLastError', p, p + ps);
    const code = heap.readI32(p); // C `int`, 4 bytes on wasm64 too
    const msgPtr = heap.readSize(p + ps);
    const text = msgPtr ? M.UTF8ToString(msgPtr) : '';
    return new HarnessError(stage, `${what} ERROR_CODE: ${code}, ERROR_MESSAGE: ${text}`, { ort_code: code });
  } finally {
    M.stackRestore(stack);
  }
}

function allocString(M, s, allocs) {
  const n = M.lengthBytesUTF8(s) + 1;
  const p = num(call(M, '_malloc', n));
  if (!p) throw new HarnessError('alloc', `malloc(${n}) failed`);
  allocs.push(p);
  M.stringToUTF8(s, p, n);
  return p;
}

// ---------------------------------------------------------------- mounting

function normalizeName(path) {
  return path.startsWith('./') ? path.substring(2) : path;
}

/**
 * Hand external data to the module. Each file object loses its `bytes` reference once mounted, so that after
 * unmount nothing on the JS side keeps the array alive (the RSS-after-session figure depends on it).
 */
export function mountFiles(M, files, route, hasFs) {
  const mounted = [];
  if (route === 'api' || route === 'mounted-files') {
    if (typeof M.mountExternalData !== 'function') {
      throw new HarnessError('mount', 'this glue has no Module.mountExternalData (not an onnxruntime-web artifact?)');
    }
    if (route === 'mounted-files' && hasFs) {
      throw new HarnessError(
        'mount',
        'mount=mounted-files needs a MEMFS-OFF artifact: this glue has the file system, so its mountExternalData ' +
          'writes into MEMFS and the Module.MountedFiles map (closure-renamed) is unreachable from outside',
      );
    }
    for (const f of files) {
      M.mountExternalData(f.path, f.bytes);
      f.bytes = null;
      mounted.push(f.path);
    }
    return { unmount: () => M.unmountExternalData?.(), mounted };
  }
  if (route === 'fs') {
    if (typeof M.FS_createDataFile !== 'function') {
      throw new HarnessError('mount', 'mount=fs needs Module.FS_createDataFile: this artifact has no file system');
    }
    const paths = [];
    for (const f of files) {
      const rel = normalizeName(f.path).replace(/^\/+/, '');
      const slash = rel.lastIndexOf('/');
      const dir = slash < 0 ? '/' : `/${rel.substring(0, slash)}`;
      if (dir !== '/') call(M, 'FS_createPath', '/', dir.substring(1), true, true);
      // positional canOwn=true: MEMFS keeps this very array (FS.writeFile's {canOwn} key is closure-renamed)
      M.FS_createDataFile(dir, rel.substring(slash + 1), f.bytes, true, false, true);
      f.bytes = null;
      paths.push(`/${rel}`);
      mounted.push(f.path);
    }
    const unmount = () => {
      const unlink = M.FS_unlink ?? (typeof M.FS?.unlink === 'function' ? M.FS.unlink : null);
      if (!unlink) throw new HarnessError('unmount', 'neither Module.FS_unlink nor Module.FS.unlink is exported');
      for (const p of paths) unlink(p);
    };
    return { unmount, mounted };
  }
  throw new HarnessError('job', `unknown mount route: ${route}`);
}

// ---------------------------------------------------------------- the flow

/**
 * Capture the WebAssembly.Instance the glue creates (main thread), to reach its function table: needed to ask a
 * thrown C++ exception for its what(). Install before calling the factory; the glue keeps the table private.
 */
export function captureInstances() {
  const orig = WebAssembly.instantiate;
  const seen = [];
  WebAssembly.instantiate = async function (...args) {
    const r = await orig.apply(this, args);
    seen.push(r instanceof WebAssembly.Instance ? r : r.instance);
    return r;
  };
  return {
    seen,
    restore: () => {
      WebAssembly.instantiate = orig;
    },
    table: () => {
      for (const inst of seen) {
        for (const v of Object.values(inst?.exports ?? {})) if (v instanceof WebAssembly.Table) return v;
      }
      return null;
    },
  };
}

/**
 * A C++ exception that escapes an export arrives in JS as a bare number: the address of the thrown object (builds
 * without API exception catching, the official 1.21.0 dist among them, do this when loading fails). Ask it for
 * its message the way C++ would: vtable slot 2 of a std::exception is what() (Itanium ABI), called through the
 * module's function table; the type name comes from emscripten's exception header in front of the object.
 * Everything here is best effort and never throws.
 */
export function decodeCppException(M, table, thrown) {
  const heap = new Heap(M);
  const ps = heap.ptrSize;
  const ptr = Number(thrown);
  const out = { ptr };
  const big = (v) => (ps === 8 ? BigInt(v) : v);
  try {
    const typeInfo = heap.readSize(ptr - 6 * ps + ps); // header: 6 words; exceptionType is the 2nd
    const namePtr = typeInfo ? heap.readSize(typeInfo + ps) : 0;
    if (namePtr) out.type = M.UTF8ToString(namePtr, 200);
  } catch {
    /* no type name */
  }
  try {
    if (table) {
      const vtable = heap.readSize(ptr);
      const idx = heap.readSize(vtable + 2 * ps);
      const len = Number(table.length);
      if (idx > 0 && idx < len) {
        const what = Number(table.get(big(idx))(big(ptr)));
        const text = what ? M.UTF8ToString(what, 64 * 1024) : '';
        if (text && /^[\t\n\r\x20-\x7e\u00a0-\uffff]+$/.test(text)) out.what = text;
      }
    }
  } catch (e) {
    out.decode_error = String(e?.message ?? e);
  }
  return out;
}

function translateThrown(M, ctx, e, stage) {
  if (e instanceof HarnessError) return e;
  if (typeof e === 'number' || typeof e === 'bigint') {
    const d = decodeCppException(M, ctx.table?.(), e);
    const what = d.what ? `: ${d.what}` : ' (message not decodable)';
    return new HarnessError(
      stage,
      `C++ exception ${d.type ?? '(unknown type)'} escaped the C API during ${stage}${what}`,
      { cpp_exception: d },
    );
  }
  return new HarnessError(stage, e instanceof Error ? `${e.name}: ${e.message}` : String(e), {
    abort: e instanceof WebAssembly.RuntimeError,
  });
}

/**
 * Run one model once. `job` holds decoded bytes: {modelBytes, files: [{path, bytes}], mount, inputs: [decoded],
 * outputs: [names], numThreads, logLevel, hasFs}. `hooks.afterSession()` runs once the session exists and the
 * external data is unmounted (the runner samples memory there); `hooks.table()` returns the module's function
 * table if the runner captured it. Returns {outputs, timings, input_names, output_names, mounted, heap_bytes}.
 * Failures come out as HarnessError with the stage; cleanup problems go to job.warnings, never over the error.
 */
export async function runFlow(M, job, hooks = {}) {
  const now = () => performance.now();
  const heap = new Heap(M);
  const timings = job.timings ?? (job.timings = {}); // the runner reports partial timings on failure too
  const warn = (w) => (job.warnings = [...(job.warnings ?? []), w]);
  const tidy = (what, fn) => {
    try {
      fn();
    } catch (e) {
      warn(`${what} failed: ${e?.message ?? e}`);
    }
  };
  const allocs = [];
  const names = [];
  let stage = 'init';
  let session = 0;
  let sessOpts = 0;
  let modelPtr = 0;
  let mountHandle = null;
  const result = { timings };
  try {
    try {
      if (call(M, '_OrtInit', job.numThreads, job.logLevel ?? LOG_LEVELS.warning) !== 0) {
        throw lastError(M, heap, 'init', "Can't initialize onnxruntime.");
      }
      stage = 'mount';
      let t = now();
      mountHandle = mountFiles(M, job.files, job.mount, job.hasFs);
      result.mounted = mountHandle.mounted;
      timings.mount_ms = now() - t;

      stage = 'session';
      t = now();
      const modelLen = job.modelBytes.byteLength;
      modelPtr = num(call(M, '_malloc', modelLen));
      if (!modelPtr) throw new HarnessError('session', `can't allocate ${modelLen} bytes for the model`);
      heap.copyIn(job.modelBytes, modelPtr);
      job.modelBytes = null;
      sessOpts = num(
        call(M, '_OrtCreateSessionOptions', GRAPH_OPT_ALL, false, false, 0, false, 0, 0, LOG_LEVELS.warning, 0, 0),
      );
      if (!sessOpts) throw lastError(M, heap, 'session', "Can't create session options.");
      const key = allocString(M, 'session.use_ort_model_bytes_directly', allocs);
      const val = allocString(M, '1', allocs);
      if (call(M, '_OrtAddSessionConfigEntry', sessOpts, key, val) !== 0) {
        throw lastError(M, heap, 'session', "Can't set a session config entry.");
      }
      const t0 = now();
      session = num(await call(M, '_OrtCreateSession', modelPtr, modelLen, sessOpts));
      timings.create_session_ms = now() - t0;
      if (!session) throw lastError(M, heap, 'session', "Can't create a session.");
      timings.session_ms = now() - t;
    } finally {
      if (modelPtr) tidy('free(model)', () => call(M, '_free', modelPtr));
      if (sessOpts) tidy('OrtReleaseSessionOptions', () => call(M, '_OrtReleaseSessionOptions', sessOpts));
      // as onnxruntime-web does: unmount once the session exists (or failed), so the file bytes can go
      if (mountHandle) {
        const t = now();
        tidy('unmount', () => mountHandle.unmount());
        timings.unmount_ms = now() - t;
      }
    }

    stage = 'session';
    if (hooks.afterSession) await hooks.afterSession(result);
    const [inCount, outCount] = ioCount(M, heap, session);
    const inNames = [];
    const outNames = [];
    for (let i = 0; i < inCount + outCount; i++) {
      const fn = i < inCount ? '_OrtGetInputName' : '_OrtGetOutputName';
      const p = num(call(M, fn, session, i < inCount ? i : i - inCount));
      if (!p) throw lastError(M, heap, 'session', `Can't get an input/output name (${i}).`);
      names.push(p);
      (i < inCount ? inNames : outNames).push({ name: M.UTF8ToString(p), ptr: p });
    }
    result.input_names = inNames.map((n) => n.name);
    result.output_names = outNames.map((n) => n.name);

    stage = 'run';
    const t = now();
    result.outputs = await runOnce(M, heap, session, inNames, outNames, job, allocs);
    timings.run_ms = now() - t;
    result.heap_bytes = heap.byteLength();
    return result;
  } catch (e) {
    throw translateThrown(M, hooks, e, stage);
  } finally {
    for (const p of names) tidy('OrtFree(name)', () => call(M, '_OrtFree', p));
    for (const p of allocs) tidy('free', () => call(M, '_free', p));
    if (session) tidy('OrtReleaseSession', () => call(M, '_OrtReleaseSession', session));
  }
}

function ioCount(M, heap, session) {
  const ps = heap.ptrSize;
  const stack = M.stackSave();
  try {
    const p = num(M.stackAlloc(2 * ps));
    if (call(M, '_OrtGetInputOutputCount', session, p, p + ps) !== 0) {
      throw lastError(M, heap, 'session', "Can't get session input/output count.");
    }
    return [heap.readSize(p), heap.readSize(p + ps)];
  } finally {
    M.stackRestore(stack);
  }
}

async function runOnce(M, heap, session, inNames, outNames, job, allocs) {
  const ps = heap.ptrSize;
  const byName = new Map(inNames.map((n) => [n.name, n.ptr]));
  for (const t of job.inputs) {
    if (!byName.has(t.name)) {
      throw new HarnessError('run', `model has no input "${t.name}" (inputs: ${inNames.map((n) => n.name)})`);
    }
  }
  const wanted = job.outputs && job.outputs.length ? job.outputs : outNames.map((n) => n.name);
  const outPtrs = wanted.map((w) => {
    const o = outNames.find((n) => n.name === w);
    if (!o) throw new HarnessError('run', `model has no output "${w}" (outputs: ${outNames.map((n) => n.name)})`);
    return o.ptr;
  });

  const tensors = [];
  let runOpts = 0;
  const stack = M.stackSave();
  try {
    for (const t of job.inputs) {
      const data = num(call(M, '_malloc', Math.max(1, t.bytes.byteLength)));
      if (!data) throw new HarnessError('run', `can't allocate ${t.bytes.byteLength} bytes for input ${t.name}`);
      allocs.push(data);
      heap.copyIn(t.bytes, data);
      const dims = num(M.stackAlloc(Math.max(1, t.dims.length) * ps)); // size_t per dim
      t.dims.forEach((d, i) => heap.writeSize(dims + i * ps, d));
      const code = TENSOR_TYPES[t.type].code;
      const h = num(call(M, '_OrtCreateTensor', code, data, t.bytes.byteLength, dims, t.dims.length, DATA_LOCATION_CPU));
      if (!h) throw lastError(M, heap, 'run', `Can't create tensor for input ${t.name}.`);
      tensors.push(h);
    }
    const n = job.inputs.length;
    const m = wanted.length;
    const inVals = num(M.stackAlloc(Math.max(1, n) * ps));
    const inNamesP = num(M.stackAlloc(Math.max(1, n) * ps));
    const outVals = num(M.stackAlloc(Math.max(1, m) * ps));
    const outNamesP = num(M.stackAlloc(Math.max(1, m) * ps));
    job.inputs.forEach((t, i) => {
      heap.writeSize(inVals + i * ps, tensors[i]);
      heap.writeSize(inNamesP + i * ps, byName.get(t.name));
    });
    outPtrs.forEach((p, i) => {
      heap.writeSize(outVals + i * ps, 0); // not pre-allocated: ORT allocates, we read and release
      heap.writeSize(outNamesP + i * ps, p);
    });
    runOpts = num(call(M, '_OrtCreateRunOptions', LOG_LEVELS.warning, 0, false, 0));
    if (!runOpts) throw lastError(M, heap, 'run', "Can't create run options.");
    const rc = await call(M, '_OrtRun', session, inNamesP, inVals, n, outNamesP, m, outVals, runOpts);
    if (rc !== 0) throw lastError(M, heap, 'run', 'failed to call OrtRun().');

    const outputs = {};
    const handles = wanted.map((_w, i) => heap.readSize(outVals + i * ps));
    try {
      for (let i = 0; i < m; i++) outputs[wanted[i]] = readTensor(M, heap, handles[i], wanted[i]);
    } finally {
      for (const h of handles) if (h) call(M, '_OrtReleaseTensor', h);
    }
    return outputs;
  } finally {
    M.stackRestore(stack);
    try {
      for (const h of tensors) call(M, '_OrtReleaseTensor', h);
      if (runOpts) call(M, '_OrtReleaseRunOptions', runOpts);
    } catch (e) {
      job.warnings = [...(job.warnings ?? []), `releasing run tensors failed: ${e?.message ?? e}`];
    }
  }
}

function readTensor(M, heap, tensor, name) {
  const ps = heap.ptrSize;
  const stack = M.stackSave();
  try {
    const p = num(M.stackAlloc(4 * ps));
    if (call(M, '_OrtGetTensorData', tensor, p, p + ps, p + 2 * ps, p + 3 * ps) !== 0) {
      throw lastError(M, heap, 'run', `Can't access output tensor data of ${name}.`);
    }
    const code = heap.readSize(p);
    const data = heap.readSize(p + ps);
    const dimsPtr = heap.readSize(p + 2 * ps);
    const rank = heap.readSize(p + 3 * ps);
    const dims = [];
    for (let i = 0; i < rank; i++) dims.push(heap.readSize(dimsPtr + i * ps));
    if (call(M, '_OrtFree', dimsPtr) !== 0) throw lastError(M, heap, 'run', "Can't free tensor dims.");
    const type = TYPE_BY_CODE.get(code);
    if (!type) throw new HarnessError('run', `output ${name}: unsupported tensor type code ${code}`);
    const size = dims.reduce((a, b) => a * b, 1);
    return { dims, type, data: bytesToBase64(heap.copyOut(data, size * TENSOR_TYPES[type].bytes)) };
  } finally {
    M.stackRestore(stack);
  }
}

/** Turn anything thrown into the JSON error fields. */
export function describeError(e) {
  if (e instanceof HarnessError) return { error: e.message, stage: e.stage, ...e.extra };
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : `non-Error thrown: ${String(e)}`;
  const stage = e instanceof WebAssembly.RuntimeError ? 'abort' : 'exception';
  return { error: msg, stage };
}
