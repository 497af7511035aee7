// Copyright (c) Microsoft Corporation. All rights reserved.
// Licensed under the MIT License.

'use strict';

//
// MEMFS support for external data (linked only with onnxruntime_ENABLE_WEBASSEMBLY_MEMFS=ON, after pre.js).
//
// onnxruntime-web calls Module.mountExternalData(path, bytes) for every entry of the `externalData` session option
// (or, when the module has it, `await Module.mountExternalDataStreaming(path, source)`), and
// Module.unmountExternalData() once the session exists. In a MEMFS build the files go into the Emscripten file
// system instead of the Module.MountedFiles map, and the C++ side reads them with 64-bit offsets through ORT's POSIX
// path (GetFileContent: Env::MapFileIntoMemory, i.e. mmap, then pread as the fallback), so external data may pass
// 4 GiB.
//
// Two ways to hold a file:
//
// - heap-backed (the default when it fits): the bytes go once into ONE _malloc'ed block of the wasm heap, streamed
//   there in chunks (a Node file path is read straight into the heap; a URL, Blob or ReadableStream is copied chunk
//   by chunk). The file's mmap hands ORT a pointer into that block (`allocated: false`, no copy), so initializers on
//   the CPU use the bytes in place. The block is freed when the file is unlinked (unmountExternalData) AND the last
//   mapping is gone (ORT unmaps an initializer when it releases it: session release, or after pre-packing).
// - file-backed (Node, a path or file: URL, backing 'auto' or 'file'): nothing is read at mount. The file stays open;
//   each mmap ORT makes reads its range from the file into a block of its own (`allocated: true`, freed by libc at
//   munmap), and preads read from the file. So an initializer ORT pre-packs (MLAS packs every MatMul weight into a
//   second buffer, then unmaps the original) costs its size once, not twice, and a tensor over 2 GiB on wasm32
//   (mmap refused, ORT preads into its own buffer) costs its size once, with no copy of the file anywhere.
// - JS-backed (the fallback, and what this file did before): MEMFS keeps the caller's Uint8Array (canOwn, no copy),
//   mmap is refused, and ORT preads what it needs into its own buffers. Chosen when the file does not fit the heap
//   budget (wasm32: 4 GiB heap) or malloc fails; the choice is logged at ORT's warning level.
//
// Why the munmap hook below: emscripten 3.1.69's munmap reaches JS only as _munmap_js(addr, len, prot, flags, fd,
// offset), which looks the stream up by fd; ORT closes the fd right after mmap, so no stream op ever sees the unmap.
// The hook counts unmaps by address instead. Two live mappings at one address with different lengths would make
// libc's munmap fail (it matches the first mapping with that address and refuses a different length), so mappings
// shorter than a wasm page (64 KiB, the libc page size: two such tensors can start in the same page) and any
// mapping that would share an address with a live one of another length are refused (ENODEV): ORT then preads them.
//
// This code is compiled together with the glue, so the closure compiler renames FS members consistently here. Keys
// that callers outside the glue read or write are quoted.
//

/** Heap-backed files not yet freed (record: {path, ptr, size, maps, opens, unlinked}). */
var ortHeapFiles = new Set();
/** Live in-place mappings: address -> {rec, len, count}. */
var ortHeapMaps = new Map();
/** Blocks our file-backed mmap allocated: address -> {rec, len} (libc frees them at munmap; we count). */
var ortFileMaps = new Map();
/** File-backed files not yet closed (record: {path, fd, size, maps, opens, unlinked}). */
var ortOpenFiles = new Set();
/** What each mount chose, for Module.externalDataStatus(). */
var ortMountLog = new Map();

var ortPtr = (v) => typeof v == 'bigint' ? Number(v) : (Module['PTR_SIZE'] == 8 ? Number(v) : Number(v) >>> 0);

var ortHeapU8 = () => {
  // memory may have grown (in any thread) since HEAPU8 was made
  if (HEAPU8.buffer !== wasmMemory.buffer) {
    updateMemoryViews();
  }
  return HEAPU8;
};

var ortLog = (options, level, message) => {
  // ORT severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal; onnxruntime-web's session default is 2
  const threshold = options && typeof options['logSeverityLevel'] == 'number' ? options['logSeverityLevel'] : 2;
  if (level >= threshold) {
    // where ORT's own log lines go (the glue's printErr: stderr in Node, console.error in a page)
    err(`onnxruntime-web (MEMFS): ${message}`);
  }
};

var ortMaybeFree = (rec) => {
  if (rec.ptr && rec.unlinked && !rec.maps && !rec.opens) {
    Module['_free'](rec.ptr);
    rec.ptr = 0;
    ortHeapFiles.delete(rec);
  }
};

/**
 * Count unmaps of in-place mappings (see the header); everything else goes to emscripten's own _munmap_js.
 * Function declarations are hoisted, so at this point the glue's _munmap_js exists; the wasm imports and the
 * pthread proxy table are built after this runs and pick up the wrapper.
 */
var ortMunmapJs = __munmap_js;
__munmap_js = function(addr, len, prot, flags, fd, offset) {
  if (!ENVIRONMENT_IS_PTHREAD) {
    const a = ortPtr(addr);
    const f = ortFileMaps.get(a);
    if (f && f.len === ortPtr(len)) {
      // our own block (allocated: true): libc frees it after this returns; the fd ORT closed is not looked up
      ortFileMaps.delete(a);
      f.rec.maps--;
      ortMaybeClose(f.rec);
      return 0;
    }
    const m = ortHeapMaps.get(a);
    if (m && m.len === ortPtr(len)) {
      if (--m.count === 0) {
        ortHeapMaps.delete(a);
      }
      m.rec.maps--;
      ortMaybeFree(m.rec);
      return 0;
    }
  }
  return ortMunmapJs(addr, len, prot, flags, fd, offset);
};

var ortMaybeClose = (rec) => {
  if (rec.fd !== null && rec.unlinked && !rec.opens) {
    require('fs')['closeSync'](rec.fd);
    rec.fd = null;
    ortOpenFiles.delete(rec);
  }
};

/** Read [position, position + view.byteLength) of a file-backed file into `view`, whole or throw EIO. */
var ortReadFile = (rec, view, position) => {
  const fs = require('fs');
  let got = 0;
  while (got < view.byteLength) {
    const n = fs['readSync'](rec.fd, view, got, Math.min(ORT_CHUNK, view.byteLength - got), position + got);
    if (!n) {
      ortLog(undefined, 3, `${rec.path}: ${rec.what} ended at ${position + got} of ${rec.size} bytes`);
      throw new FS.ErrnoError(29 /* EIO */);
    }
    got += n;
  }
  return got;
};

var ortSplitPath = (externalDataFilePath) => {
  if (externalDataFilePath.startsWith('./')) {
    externalDataFilePath = externalDataFilePath.substring(2);
  }
  const path = PATH.normalize(externalDataFilePath.startsWith('/') ? externalDataFilePath : '/' + externalDataFilePath);
  const slash = path.lastIndexOf('/');
  return {path, dir: path.substring(0, slash) || '/', name: path.substring(slash + 1)};
};

var ortUnlink = (path) => {
  if (FS.analyzePath(path).exists) {
    const node = FS.lookupPath(path).node;
    FS.unlink(path);
    if (node.ortHeap) {
      node.ortHeap.unlinked = true;
      ortMaybeFree(node.ortHeap);
    }
    if (node.ortFile) {
      node.ortFile.unlinked = true;
      ortMaybeClose(node.ortFile);
    }
  }
};

var ortPrepare = (externalDataFilePath) => {
  const where = ortSplitPath(externalDataFilePath);
  if (where.dir !== '/') {
    FS.mkdirTree(where.dir);
  }
  ortUnlink(where.path);
  return where;
};

/**
 * Stream ops of a read-only file whose record counts its opens (ORT may close the fd before it unmaps):
 * `release(rec)` runs at each close; `own` holds the kind's read and mmap.
 */
var ortReadOnlyOps = (rec, base, release, own) => Object.assign({}, base, {
  open(stream) {
    rec.opens++;
  },
  dup(stream) {
    rec.opens++;
  },
  close(stream) {
    rec.opens--;
    release(rec);
  },
  write(stream, buffer, offset, length, position, canOwn) {
    throw new FS.ErrnoError(63 /* EPERM */);
  },
  allocate(stream, offset, length) {
    throw new FS.ErrnoError(63 /* EPERM */);
  },
  msync(stream, buffer, offset, length, mmapFlags) {
    return 0;
  },
}, own);

/** Stream ops of a heap-backed file: reads and maps go to the heap block. */
var ortHeapStreamOps = (rec, base) => ortReadOnlyOps(rec, base, ortMaybeFree, {
  read(stream, buffer, offset, length, position) {
    if (position >= rec.size) {
      return 0;
    }
    const n = Math.min(rec.size - position, length);
    const heap = ortHeapU8();
    const from = rec.ptr + position;
    if (buffer.buffer === heap.buffer) {
      // within the heap: a memmove, no temporary (set() would clone the shared source first)
      heap.copyWithin(buffer.byteOffset + offset, from, from + n);
    } else {
      buffer.set(heap.subarray(from, from + n), offset);
    }
    return n;
  },
  mmap(stream, length, position, prot, flags) {
    // ENODEV makes ORT's mmap fail quietly; it then preads (GetFileContent's fallback)
    const shared = !(flags & 2 /* MAP_PRIVATE */);
    if (!rec.ptr || length < 65536 || position + length > rec.size || (shared && (prot & 2 /* PROT_WRITE */))) {
      throw new FS.ErrnoError(43 /* ENODEV */);
    }
    const ptr = rec.ptr + position;
    const live = ortHeapMaps.get(ptr);
    if (live && live.len !== length) {
      throw new FS.ErrnoError(43 /* ENODEV */);
    }
    if (live) {
      live.count++;
    } else {
      ortHeapMaps.set(ptr, {rec, len: length, count: 1});
    }
    rec.maps++;
    return {ptr, allocated: false};
  },
});

/** Stream ops of a file-backed file: reads and maps read the file. */
var ortFileStreamOps = (rec, base) => ortReadOnlyOps(rec, base, ortMaybeClose, {
  read(stream, buffer, offset, length, position) {
    if (position >= rec.size) {
      return 0;
    }
    const n = Math.min(rec.size - position, length);
    return ortReadFile(rec, new Uint8Array(buffer.buffer, buffer.byteOffset + offset, n), position);
  },
  mmap(stream, length, position, prot, flags) {
    // ENODEV/ENOMEM make ORT's mmap fail quietly; it then preads (GetFileContent's fallback)
    const shared = !(flags & 2 /* MAP_PRIVATE */);
    if (position + length > rec.size || (shared && (prot & 2 /* PROT_WRITE */))) {
      throw new FS.ErrnoError(43 /* ENODEV */);
    }
    // what mmapAlloc does, without its zero fill (every byte is read next); libc frees it with the same allocator
    const ptr = ortPtr(_emscripten_builtin_memalign(65536, Math.ceil(length / 65536) * 65536));
    if (!ptr) {
      throw new FS.ErrnoError(48 /* ENOMEM */);
    }
    ortReadFile(rec, new Uint8Array(ortHeapU8().buffer, ptr, length), position);
    ortFileMaps.set(ptr, {rec, len: length});
    rec.maps++;
    return {ptr, allocated: true};
  },
});

/** Node: make `path` a file-backed MEMFS file over the host file `file` (opened here, read on demand). */
var ortMountFile = (where, file, options) => {
  const fs = require('fs');
  if (file.startsWith('file:')) {
    file = require('url')['fileURLToPath'](file);
  }
  let fd;
  try {
    fd = fs['openSync'](file, 'r');
  } catch (e) {
    throw new Error(`external data ${where.path}: cannot open ${file}: ${e?.message ?? e}`);
  }
  const size = Number(fs['fstatSync'](fd)['size']);
  ortPrepare(where.path);
  FS.createDataFile(where.dir, where.name, null, /* canRead= */ true, /* canWrite= */ false, /* canOwn= */ false);
  const node = FS.lookupPath(where.path).node;
  const rec = {path: where.path, what: file, fd, size, maps: 0, opens: 0, unlinked: false};
  ortOpenFiles.add(rec);
  node.ortFile = rec;
  node.usedBytes = size;  // what stat and lseek(SEEK_END) report
  node.stream_ops = ortFileStreamOps(rec, node.stream_ops);
  return ortNote(where, size, 'file', '', options);
};

/** Make `path` a heap-backed MEMFS file over [ptr, ptr + size). */
var ortMountHeap = (where, ptr, size) => {
  FS.createDataFile(where.dir, where.name, null, /* canRead= */ true, /* canWrite= */ false, /* canOwn= */ false);
  const node = FS.lookupPath(where.path).node;
  const rec = {path: where.path, ptr, size, maps: 0, opens: 0, unlinked: false};
  ortHeapFiles.add(rec);
  node.ortHeap = rec;
  // a view for whoever looks at MEMFS contents directly (stays valid: the memory is shared and only grows); the
  // stream ops above never use it and build their views afresh
  node.contents = new Uint8Array(ortHeapU8().buffer, ptr, size);
  node.usedBytes = size;
  node.stream_ops = ortHeapStreamOps(rec, node.stream_ops);
  return rec;
};

/** Keep the caller's array (canOwn: no copy); no mmap, so ORT preads into its own buffer. */
var ortMountJs = (where, data) => {
  FS.createDataFile(where.dir, where.name, data, /* canRead= */ true, /* canWrite= */ false, /* canOwn= */ true);
  // MEMFS's own mmap would memalign, zero-fill, then copy (two passes over the bytes); pread is one
  const node = FS.lookupPath(where.path).node;
  node.stream_ops = Object.assign({}, node.stream_ops, {mmap: undefined});
};

/** The link's MAXIMUM_MEMORY (both links say so: 4 GiB on wasm32, 16 GiB on wasm64). */
var ortHeapMax = () => Module['PTR_SIZE'] == 8 ? 16 * 1024 ** 3 : 4 * 1024 ** 3;

/** Bytes of heap-backed files alive in the heap. */
var ortHeapHeld = () => {
  let held = 0;
  for (const rec of ortHeapFiles) {
    held += rec.size;
  }
  return held;
};

/**
 * Heap block for `size` bytes, or [0, reason] when the file should stay in JS memory.
 * options['backing']: 'auto' (default), 'heap' (fail rather than fall back) or 'js'.
 */
var ortAllocate = (size, options) => {
  const want = (options && options['backing']) || 'auto';
  if (want === 'js') {
    return [0, 'backing "js" requested'];
  }
  if (size === 0) {
    return [0, 'empty file'];
  }
  const wasm64 = Module['PTR_SIZE'] == 8;
  // the link's MAXIMUM_MEMORY, less room for ORT itself (arena, activations, pre-packed weights)
  const max = ortHeapMax();
  const budget = options && typeof options['heapBudget'] == 'number' ? options['heapBudget'] : max - 512 * 1024 ** 2;
  const held = ortHeapHeld();
  // musl's mmap refuses a length past PTRDIFF_MAX (2 GiB - 1 on wasm32), so a tensor over 2 GiB in a heap-backed file
  // could not be mapped in place, and ORT's fallback (a second buffer of the tensor's size) does not fit beside the
  // file in a 4 GiB heap (std::bad_alloc). Such a file stays in the caller's bytes; ORT reads each tensor once.
  if (!wasm64 && size > 2 ** 31 - 1 && want !== 'heap') {
    return [0, `${size} bytes: a tensor over 2 GiB in it could not be mapped on wasm32 (mmap stops at 2 GiB)`];
  }
  if (held + size > budget && want !== 'heap') {
    return [0, `${size} bytes would pass the heap budget (${budget} bytes, ${held} held by other files)`];
  }
  if (!wasm64 && size >= 4 * 1024 ** 3) {
    return [0, `${size} bytes do not fit a 32-bit heap`];
  }
  const ptr = ortPtr(Module['_malloc'](size));
  if (!ptr) {
    return [0, `malloc(${size}) failed`];
  }
  return [ptr, ''];
};

var ortNote = (where, size, backing, reason, options) => {
  ortMountLog.set(where.path, {'path': where.path, 'byteLength': size, 'backing': backing, 'reason': reason});
  if (backing === 'heap') {
    ortLog(options, 1, `${where.path}: ${size} bytes in the wasm heap, used in place`);
  } else if (backing === 'file') {
    ortLog(options, 1, `${where.path}: ${size} bytes left in the file, each tensor read once when ORT maps it`);
  } else if (backing === 'source') {
    ortLog(options, 1, `${where.path}: ${size} bytes left in ${reason}, each tensor read in chunks when ORT loads it`);
  } else {
    // a fallback the caller did not ask for is a warning: the file costs its size again in the heap when read
    const asked = !size || (options && options['backing']) === 'js' || reason === ORT_WEBGPU_REASON;
    ortLog(options, asked ? 1 : 2,
           `${where.path}: ${size} bytes kept in JS memory, copied into the heap when read (${reason})`);
  }
  return {'path': where.path, 'byteLength': size, 'backing': backing, 'reason': reason};
};

var ortAsBytes = (data) => data instanceof Uint8Array ? data :
    ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) :
    new Uint8Array(data);

var ortIsBytes = (data) => ArrayBuffer.isView(data) || data instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer != 'undefined' && data instanceof SharedArrayBuffer);

/** Bytes already in JS: one copy into the heap, or (fallback) MEMFS keeps the array itself. */
var ortMountBytes = (where, data, options) => {
  const bytes = ortAsBytes(data);
  const size = bytes.byteLength;
  if (ortPreferSource(options)) {
    // the WebGPU EP's loader reads it in chunks, to the GPU or into ORT's own CPU tensors: a heap copy of the whole
    // file would stay in the heap (it never shrinks) for nothing
    ortMountJs(where, bytes);
    return ortNote(where, size, 'js', ORT_WEBGPU_REASON, options);
  }
  const [ptr, reason] = ortAllocate(size, options);
  if (ptr) {
    ortHeapU8().set(bytes, ptr);
    ortMountHeap(where, ptr, size);
    return ortNote(where, size, 'heap', '', options);
  }
  if ((options && options['backing']) === 'heap') {
    throw new Error(`external data ${where.path}: no heap block for ${size} bytes: ${reason}`);
  }
  ortMountJs(where, bytes);
  return ortNote(where, size, 'js', reason, options);
};

/**
 * @param {string} externalDataFilePath
 * @param {Uint8Array|ArrayBuffer|ArrayBufferView} externalDataFileData
 * @param {Object=} options {'backing': 'auto'|'heap'|'js', 'heapBudget': bytes, 'logSeverityLevel': 0..4}
 */
Module['mountExternalData'] = (externalDataFilePath, externalDataFileData, options) => {
  if (typeof Blob != 'undefined' && externalDataFileData instanceof Blob) {
    // npm's 1.30 client mounts a Blob as it is in a JSPI build (PR #29477); the WebGPU EP's loader reads it by slices
    const src = ortBlobSource(externalDataFileData, externalDataFileData['name'] ?
                              `File ${externalDataFileData['name']}` : 'a Blob');
    return ortMountSource(ortPrepare(externalDataFilePath), src, options);
  }
  if (!ortIsBytes(externalDataFileData)) {
    throw new TypeError(`external data ${externalDataFilePath}: mountExternalData takes bytes; ` +
                        'use mountExternalDataStreaming for a path, URL, Blob or stream');
  }
  return ortMountBytes(ortPrepare(externalDataFilePath), externalDataFileData, options);
};

var ORT_CHUNK = 32 * 1024 * 1024;

/** Node file path (or file: URL) -> reader that reads straight into a destination view. */
var ortNodeFileReader = async (file) => {
  const fsp = require('fs')['promises'];
  if (typeof file != 'string') {
    file = require('url')['fileURLToPath'](file);
  } else if (file.startsWith('file:')) {
    file = require('url')['fileURLToPath'](file);
  }
  const handle = await fsp['open'](file, 'r');
  try {
    const size = Number((await handle['stat']())['size']);
    return {
      size,
      what: file,
      readInto: async (view, position) => (await handle['read'](view, 0, view.byteLength, position))['bytesRead'],
      close: () => handle['close'](),
    };
  } catch (e) {
    await handle['close']();
    throw e;
  }
};

/** A BYOB reader of `stream`, or null when it is not a byte stream. */
var ortByobReader = (stream) => {
  try {
    return stream['getReader']({'mode': 'byob'});
  } catch (e) {
    return null;
  }
};

/**
 * BYOB reads into `buffer` from its start until n bytes or the stream's end: [the buffer, the bytes read]. Each read
 * transfers the buffer, so the filled view's buffer is the one to keep, and the caller's is detached.
 */
var ortByobFill = async (reader, buffer, n) => {
  let got = 0;
  while (got < n) {
    const r = await reader['read'](new Uint8Array(buffer, got, n - got));
    if (r['value']) {
      buffer = r['value']['buffer'];
    }
    if (r['done']) {
      break;
    }
    got += r['value']['byteLength'];
  }
  return [buffer, got];
};

/**
 * A ReadableStream's reader -> chunk reader. A byte stream (a fetch body, a Blob's stream) is read by a BYOB reader
 * into ONE reused ORT_CHUNK buffer: `next` returns a view of it, valid until the next call (`reused`: ortFill copies
 * it into the heap at once; a caller that keeps chunks copies them). Why: the default reader makes a new ArrayBuffer
 * per chunk (Chromium: one per network read, up to 2 MiB; 6454-7722 of them for a 4.25 GiB body), and V8 frees those
 * late (external memory): measured in headless Chromium on wasm64-memfs, 1.6-1.7 GiB of dead chunks were resident at
 * the end of big_gather's fill (renderer peak 1.24-1.56x the weights, and until the next GC after the session);
 * with this reader 1.06x. (The heap itself cannot be the BYOB target: a threaded build's memory is shared, and a
 * SharedArrayBuffer cannot be transferred.)
 */
var ortStreamReader = (stream, size, what) => {
  const byob = ortByobReader(stream);
  if (byob) {
    let buffer = new ArrayBuffer(ORT_CHUNK);
    return {
      size,
      what,
      reused: true,
      next: async () => {
        let got;
        [buffer, got] = await ortByobFill(byob, buffer, buffer.byteLength);
        return got ? new Uint8Array(buffer, 0, got) : null;
      },
      close: () => byob['cancel']().catch(() => {}),
    };
  }
  const reader = stream['getReader']();
  return {
    size,
    what,
    next: async () => {
      const r = await reader['read']();
      return r['done'] ? null : r['value'];
    },
    close: () => reader['cancel']().catch(() => {}),
  };
};

var ortResponseReader = (response, what) => {
  if (!response['ok']) {
    throw new Error(`failed to load external data file: ${what} (HTTP ${response['status']})`);
  }
  const headers = response['headers'];
  const encoding = headers['get']('Content-Encoding');
  const length = headers['get']('Content-Length');
  // a compressed body decodes to more bytes than Content-Length says: size unknown
  const size = length !== null && (!encoding || encoding === 'identity') ? Number(length) : undefined;
  if (!response['body']) {
    return {size, what, next: (() => {
      let done = false;
      return async () => done ? null : (done = true, new Uint8Array(await response['arrayBuffer']()));
    })(), close: () => {}};
  }
  return ortStreamReader(response['body'], size, what);
};

var ortAsyncIterableReader = (iterable, size, what) => {
  const it = iterable[Symbol.asyncIterator]();
  return {
    size,
    what,
    next: async () => {
      const r = await it['next']();
      return r['done'] ? null : ortAsBytes(r['value']);
    },
    close: () => it['return']?.(),
  };
};

/** Any supported source -> {size (or undefined), what, readInto | next, close}. */
var ortOpenSource = async (source, options) => {
  const given = options && typeof options['size'] == 'number' ? options['size'] : undefined;
  if (typeof URL != 'undefined' && source instanceof URL) {
    source = source.href;
  }
  if (typeof source == 'string') {
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(source);
    if (ENVIRONMENT_IS_NODE && (!scheme || scheme[1].toLowerCase() === 'file')) {
      return ortNodeFileReader(source);
    }
    return ortResponseReader(await fetch(source), source);
  }
  if (typeof Response != 'undefined' && source instanceof Response) {
    return ortResponseReader(source, source['url'] || 'a Response');
  }
  if (typeof Blob != 'undefined' && source instanceof Blob) {
    return ortStreamReader(source['stream'](), source['size'], source['name'] ? `File ${source['name']}` : 'a Blob');
  }
  if (typeof ReadableStream != 'undefined' && source instanceof ReadableStream) {
    return ortStreamReader(source, given, 'a ReadableStream');
  }
  if (source && typeof source[Symbol.asyncIterator] == 'function') {
    return ortAsyncIterableReader(source, given, 'a stream');
  }
  throw new TypeError(`unsupported external data source (${Object.prototype.toString.call(source)}): ` +
                      'give bytes, a path or URL string, a URL, a Blob, a Response or a ReadableStream');
};

/**
 * Stream `source` into the destination `view(offset, length)` gives; returns the bytes written. Throws an error
 * naming the file and the bytes received when the source fails, ends early or runs long.
 */
var ortFill = async (where, src, size, view) => {
  let got = 0;
  const fail = (what) => new Error(`external data ${where.path}: ${what} after ${got} of ${size} bytes from ${src.what}`);
  if (src.readInto) {
    while (got < size) {
      let n;
      try {
        n = await src.readInto(view(got, Math.min(ORT_CHUNK, size - got)), got);
      } catch (e) {
        throw fail(`read failed (${e?.message ?? e})`);
      }
      if (!n) {
        throw fail('the file ended');
      }
      got += n;
    }
    return got;
  }
  for (;;) {
    let chunk;
    try {
      chunk = await src.next();
    } catch (e) {
      throw fail(`the stream failed (${e?.message ?? e})`);
    }
    if (chunk === null) {
      break;
    }
    if (got + chunk.byteLength > size) {
      got += chunk.byteLength;
      throw fail('the stream ran past the expected length');
    }
    view(got, chunk.byteLength).set(chunk);
    got += chunk.byteLength;
  }
  if (got < size) {
    throw fail('the stream ended');
  }
  return got;
};

/**
 * Mount external data from bytes, a path (Node) or URL string, a URL, a Blob/File, a Response, a ReadableStream or
 * an async iterable of byte chunks. A known size is streamed into one heap block (or, over budget, one JS array);
 * an unknown size (a stream without options.size, a compressed or header-less response) is gathered in chunks first.
 *
 * @param {string} externalDataFilePath
 * @param {*} source
 * @param {Object=} options {'size', 'backing', 'heapBudget', 'logSeverityLevel'}
 * @return {!Promise<!Object>} {'path', 'byteLength', 'backing': 'heap'|'js', 'reason'}
 */
Module['mountExternalDataStreaming'] = async (externalDataFilePath, source, options) => {
  if (ortIsBytes(source)) {
    return Module['mountExternalData'](externalDataFilePath, source, options);
  }
  const where = ortSplitPath(externalDataFilePath);
  const want = (options && options['backing']) || 'auto';
  if (typeof URL != 'undefined' && source instanceof URL && source.protocol === 'file:') {
    source = source.href;
  }
  const isPath = ENVIRONMENT_IS_NODE && typeof source == 'string' &&
      (!/^([a-zA-Z][a-zA-Z0-9+.-]+):/.test(source) || source.toLowerCase().startsWith('file:'));
  if (isPath && (want === 'auto' || want === 'file')) {
    return ortMountFile(where, source, options);
  }
  if (want === 'file') {
    throw new Error(`external data ${where.path}: backing "file" needs a file path in Node`);
  }
  if (ortPreferSource(options) && !isPath) {
    let src;
    try {
      src = await ortOpenRandomSource(source);
    } catch (e) {
      throw new Error(`external data ${where.path}: cannot open ${typeof source == 'string' ? source : 'the source'}` +
                      `: ${e?.message ?? e}`);
    }
    ortPrepare(externalDataFilePath);
    return ortMountSource(where, src, options);
  }
  let src;
  try {
    src = await ortOpenSource(source, options);
  } catch (e) {
    throw new Error(`external data ${where.path}: cannot open ${typeof source == 'string' ? source : 'the source'}: ` +
                    `${e?.message ?? e}`);
  }
  try {
    let size = src.size;
    if (size === undefined) {
      // unknown length: gather the chunks, then place them like bytes (transiently twice the file)
      const chunks = [];
      size = 0;
      for (;;) {
        let c;
        try {
          c = await src.next();
        } catch (e) {
          throw new Error(`external data ${where.path}: the stream failed (${e?.message ?? e}) after ${size} bytes ` +
                          `from ${src.what}`);
        }
        if (c === null) {
          break;
        }
        chunks.push(src.reused ? c.slice() : c);  // a reused buffer's view is overwritten by the next read
        size += c.byteLength;
      }
      const gathered = src;
      src = {what: gathered.what, next: async () => chunks.shift() ?? null, close: () => gathered.close?.()};
    }
    const [ptr, reason] = ortAllocate(size, options);
    if (ptr) {
      try {
        await ortFill(where, src, size, (at, n) => new Uint8Array(ortHeapU8().buffer, ptr + at, n));
      } catch (e) {
        Module['_free'](ptr);
        throw e;
      }
      ortPrepare(externalDataFilePath);
      ortMountHeap(where, ptr, size);
      return ortNote(where, size, 'heap', '', options);
    }
    if ((options && options['backing']) === 'heap') {
      throw new Error(`external data ${where.path}: no heap block for ${size} bytes: ${reason}`);
    }
    // one JS array of the final size (no chunk list, no concatenation)
    const bytes = new Uint8Array(size);
    await ortFill(where, src, size, (at, n) => bytes.subarray(at, at + n));
    ortPrepare(externalDataFilePath);
    ortMountJs(where, bytes);
    return ortNote(where, size, 'js', reason, options);
  } finally {
    await src.close?.();
  }
};

/**
 * JSEP's external data loader (external_data_loader.cc) reads through this in MEMFS builds, where there is no
 * Module.MountedFiles map: it copies [offset, offset + length) of a mounted file into the heap at `dst` (loadType 0,
 * a CPU tensor) or uploads it to the WebGPU buffer `dst` names (loadType 1). The bytes are read in place (the heap
 * block of a heap-backed file, the caller's array of a JS-backed one), and offsets are Numbers, so a file past 4 GiB
 * works. Returns the loader's codes: 0 done, 2 not mounted, 3 out of bounds, 4 the copy or upload threw.
 */
var ortLoadExternalData = (file, offset, length, dst, loadType) => {
  const where = ortSplitPath(UTF8ToString(ortPtr(file)));
  const found = FS.analyzePath(where.path);
  if (!found.exists) {
    return 2;
  }
  const node = found.object;
  const rec = node.ortHeap;
  const size = rec ? rec.size : node.usedBytes;
  if (offset < 0 || length < 0 || offset + length > size) {
    return 3;
  }
  try {
    if (node.ortFile && loadType === 0) {
      ortReadFile(node.ortFile, new Uint8Array(ortHeapU8().buffer, ortPtr(dst), length), offset);
      return 0;
    }
    const heap = ortHeapU8();
    const data = rec ? heap.subarray(rec.ptr + offset, rec.ptr + offset + length) :
                 node.ortFile ? (() => {
                   const tmp = new Uint8Array(length);
                   ortReadFile(node.ortFile, tmp, offset);
                   return tmp;
                 })() : node.contents.subarray(offset, offset + length);
    if (loadType === 0) {
      const to = ortPtr(dst);
      if (data.buffer === heap.buffer) {
        // within the heap: a memmove, no temporary (set() would clone the shared source first)
        heap.copyWithin(to, data.byteOffset, data.byteOffset + length);
      } else {
        heap.set(data, to);
      }
      return 0;
    }
    if (loadType === 1) {
      Module.jsepUploadExternalBuffer(ortPtr(dst), data);
      return 0;
    }
    return 4;
  } catch (e) {
    ortLog(undefined, 3, `${where.path}: loading ${length} bytes at offset ${offset} failed: ${e?.message ?? e}`);
    return 4;
  }
};

//
// Wrapping what the glue assigns. onnxruntime-web calls functions on Module that the glue (or a post-js such as
// post-webgpu.js) assigns after this file runs, and in emscripten 3.1.x reassigns to the wasm export on first call;
// accessor properties wrap what the glue assigns. A tool that wraps the export in turn (a profiler:
// `const f = M._OrtCreateSession; M._OrtCreateSession = (...a) => f(...a)`) is stored as given and calls our
// wrapper, which calls the glue's function: wrapping the tool's function too would make our wrapper call the tool,
// which calls our wrapper, for ever. The glue's own values are the first one and those taken from wasmExports; a
// later glue value replaces the function our wrapper calls, and leaves a tool's wrapper in place.
//

var ortIsWasmExport = (f) => typeof wasmExports == 'object' && wasmExports != null &&
    Object.values(wasmExports).includes(f);

var ortWrapExport = (name, wrap) => {
  let impl;
  let wrapped;
  let visible;
  Object.defineProperty(Module, name, {
    configurable: true,
    enumerable: true,
    get: () => visible,
    set: (f) => {
      if (typeof f != 'function') {
        visible = f;
      } else if (impl === undefined || ortIsWasmExport(f)) {
        const ours = visible === undefined || visible === wrapped;
        impl = f;
        if (wrapped === undefined) {
          wrapped = wrap((...args) => impl(...args));
        }
        if (ours) {
          visible = wrapped;
        }
      } else {
        visible = f;
      }
    },
  });
};

/** A wrap for ortWrapExport that runs `after` with the same arguments once the function returned. */
var ortThen = (after) => (f) => (...args) => {
  const result = f(...args);
  after(...args);
  return result;
};

//
// The WebGPU EP (1.30's .asyncify and .jspi pairs). In a WebGPU-EP session every external initializer, CPU-resident
// ones too, is loaded by the EP's external data loader, which memfs-webgpu.patch points at ortLoadExternalDataAsync
// below (an EM_ASYNC_JS import: Asyncify or JSPI suspends the module while it awaits). So in such a session nothing
// needs the file in the heap: a file is mounted where it already is (backing 'source': a Blob, a URL read by HTTP
// Range requests, the caller's bytes, a Node file), and each tensor is read in ORT_CHUNK pieces, into the GPU buffer
// (queue.writeBuffer per chunk) or into ORT's own CPU tensor. Offsets are Numbers: a file past 4 GiB works.
//
// Which session is a WebGPU one: onnxruntime-web calls Module.webgpuRegisterDevice (post-webgpu.js) while it sets the
// session options, before it mounts the external data, for every WebGPU-EP session (its argument is the user's
// GPUDevice, or undefined for ORT's own); webgpuOnCreateSession follows once the session exists or failed.
//

var ORT_WEBGPU_REASON = 'a WebGPU session: its loader reads it in chunks, straight to the GPU';
/** The device of the WebGPU-EP session being created: a user's GPUDevice, null for ORT's own, undefined: none. */
var ortWebGpuSession;

var ortPreferSource = (options) => {
  const want = (options && options['backing']) || 'auto';
  return want === 'source' || (want === 'auto' && ortWebGpuSession !== undefined);
};

if (!ENVIRONMENT_IS_PTHREAD) {
  ortWrapExport('webgpuRegisterDevice', ortThen((device) => {
    ortWebGpuSession = device || null;
    // read by memfs-webgpu.patch's import: the user's device; ORT's own is looked up there by _OrtGetWebGpuDevice
    Module['ortWebGpuDevice'] = device || undefined;
  }));
  ortWrapExport('webgpuOnCreateSession', ortThen(() => {
    ortWebGpuSession = undefined;
    Module['ortWebGpuDevice'] = undefined;
  }));
}

/**
 * The buffer that Range and Blob reads fill (ORT_CHUNK bytes), reused from chunk to chunk (ortReadChunk); dropped at
 * unmount.
 */
var ortChunkBuffer = null;

/**
 * The n bytes of a body `stream` (a Range response's, a Blob slice's), read into ortChunkBuffer: a view that is valid
 * until the next read (the loader copies it at once: writeBuffer and HEAPU8.set copy). Throws unless exactly n bytes
 * come. Why not Response.arrayBuffer() or Blob.arrayBuffer(): each makes a new ArrayBuffer per chunk, and V8 frees
 * those late (they are external memory, collected when its pressure triggers a GC): measured in headless Chromium,
 * the renderer held up to ~250 MiB of dead 32 MiB chunks loading gather_1g25 and ~750 MiB loading mlp_5g_split. A
 * BYOB reader fills one buffer in place (each read transfers the buffer: the filled view's is the one to keep); a
 * stream without byte support is read chunk by chunk into it.
 */
var ortReadChunk = async (stream, n, what) => {
  let buffer = ortChunkBuffer && ortChunkBuffer.byteLength >= n ? ortChunkBuffer : new ArrayBuffer(Math.max(n, 1));
  ortChunkBuffer = null;  // a read that starts while this one is under way makes its own buffer
  let got = 0;
  let reader = ortByobReader(stream);
  if (reader) {
    [buffer, got] = await ortByobFill(reader, buffer, n);
    if (got === n && !(await reader['read'](new Uint8Array(1)))['done']) {
      got++;  // the body goes on past n bytes
    }
  } else {
    reader = stream['getReader']();
    const into = new Uint8Array(buffer);
    for (;;) {
      const r = await reader['read']();
      if (r['done']) {
        break;
      }
      const chunk = r['value'];
      if (got + chunk.byteLength > n) {
        got += chunk.byteLength;
        break;
      }
      into.set(chunk, got);
      got += chunk.byteLength;
    }
  }
  if (buffer.byteLength) {
    ortChunkBuffer = buffer;  // (a detached one has none: the next read then makes a new one)
  }
  if (got !== n) {
    await reader['cancel']().catch(() => undefined);
    throw new Error(`${what}: asked for ${n} bytes, got ${got > n ? 'more' : got}`);
  }
  return new Uint8Array(buffer, 0, n);
};

var ortBlobSource = (blob, what) => ({
  size: blob['size'],
  what,
  readAt: (position, n) => ortReadChunk(blob['slice'](position, position + n)['stream'](), n, `${what} at ${position}`),
});

/**
 * A URL read by Range requests when its server answers them (206 with a matching Content-Range and no content
 * coding); else its body kept once as a Blob (the browser keeps a big Blob outside the page's JS heap).
 */
var ortUrlSource = async (url) => {
  const probe = await fetch(url, {'headers': {'Range': 'bytes=0-0'}});
  const headers = probe['headers'];
  const total = probe['status'] === 206 ? /^bytes 0-0\/(\d+)$/.exec(headers['get']('Content-Range') || '') : null;
  const encoding = headers['get']('Content-Encoding');
  if (total && (!encoding || encoding === 'identity')) {
    await probe['arrayBuffer']();
    return {
      size: Number(total[1]),
      what: url,
      readAt: async (position, n) => {
        const last = position + n - 1;
        const r = await fetch(url, {'headers': {'Range': `bytes=${position}-${last}`}});
        const range = r['headers']['get']('Content-Range');
        if (r['status'] !== 206 || !range || !range.startsWith(`bytes ${position}-${last}/`)) {
          throw new Error(`${url}: asked for bytes ${position}-${last}, got HTTP ${r['status']} ` +
                          `${range ? `with Content-Range ${range}` : 'without Content-Range'}`);
        }
        if (!r['body']) {
          throw new Error(`${url}: asked for ${n} bytes at ${position}, got no body`);
        }
        return ortReadChunk(r['body'], n, `${url} (bytes ${position}-${last})`);
      },
    };
  }
  if (!probe['ok']) {
    throw new Error(`failed to load external data file: ${url} (HTTP ${probe['status']})`);
  }
  return ortBlobSource(await probe['blob'](), `${url} (kept as a Blob: the server does not answer Range requests)`);
};

/** A source read by position without holding it whole in the page: a Blob, a URL, or a stream kept as a Blob. */
var ortOpenRandomSource = async (source) => {
  if (typeof URL != 'undefined' && source instanceof URL) {
    source = source.href;
  }
  if (typeof source == 'string') {
    return ortUrlSource(source);
  }
  if (typeof Blob != 'undefined' && source instanceof Blob) {
    return ortBlobSource(source, source['name'] ? `File ${source['name']}` : 'a Blob');
  }
  if (typeof Response != 'undefined' && source instanceof Response) {
    if (!source['ok']) {
      throw new Error(`HTTP ${source['status']} from ${source['url'] || 'a Response'}`);
    }
    return ortBlobSource(await source['blob'](), `${source['url'] || 'a Response'} (kept as a Blob)`);
  }
  if (typeof ReadableStream != 'undefined' && source instanceof ReadableStream) {
    return ortBlobSource(await new Response(source)['blob'](), 'a ReadableStream (kept as a Blob)');
  }
  throw new TypeError(`unsupported external data source for a WebGPU session (${
      Object.prototype.toString.call(source)}): give bytes, a URL, a Blob, a Response or a ReadableStream`);
};

/** Make `path` a MEMFS file over `src` (nothing read now): the WebGPU EP's loader reads it by position. */
var ortMountSource = (where, src, options) => {
  FS.createDataFile(where.dir, where.name, null, /* canRead= */ true, /* canWrite= */ false, /* canOwn= */ false);
  const node = FS.lookupPath(where.path).node;
  const rec = {path: where.path, what: src.what, size: src.size, readAt: src.readAt, maps: 0, opens: 0,
               unlinked: false};
  node.ortSource = rec;
  node.usedBytes = src.size;
  node.stream_ops = ortReadOnlyOps(rec, node.stream_ops, () => {}, {
    read(stream, buffer, offset, length, position) {
      // ORT reads through the file system only outside the EP's loader (a graph transform reading an initializer):
      // a Blob or a URL cannot be read synchronously
      ortLog(undefined, 3, `${rec.path}: ${length} bytes at ${position} read synchronously, which ${rec.what} ` +
                           'cannot serve: mount bytes or a Node path for this model');
      throw new FS.ErrnoError(29 /* EIO */);
    },
    mmap(stream, length, position, prot, flags) {
      throw new FS.ErrnoError(43 /* ENODEV */);
    },
  });
  return ortNote(where, src.size, 'source', src.what, options);
};

/**
 * (position, n) -> the bytes [position, position + n) of a mounted file, or a promise of them; valid until the next
 * read (a URL's or Blob's are in ortChunkBuffer).
 */
var ortReaderOf = (node) => {
  if (node.ortSource) {
    return node.ortSource.readAt;
  }
  if (node.ortHeap) {
    const rec = node.ortHeap;
    return (position, n) => ortHeapU8().subarray(rec.ptr + position, rec.ptr + position + n);
  }
  if (node.ortFile) {
    return (position, n) => {
      const bytes = new Uint8Array(n);
      ortReadFile(node.ortFile, bytes, position);
      return bytes;
    };
  }
  return (position, n) => node.contents.subarray(position, position + n);
};

/** GPUDevice -> writes queued on it since the loader last waited for the GPU (at most one between loads). */
var ortQueuedWrites = new WeakMap();

/** The first error the `n` innermost error scopes caught, as a message; '' when none did. */
var ortPopErrorScopes = async (device, n) => {
  let first = '';
  for (let i = 0; i < n; i++) {
    const error = await device['popErrorScope']();
    first = first || (error ? error['message'] || String(error) : '');
  }
  return first;
};

/**
 * memfs-webgpu.patch's loader: [offset, offset + length) of a mounted file into the heap at `dst` (loadType 0, a
 * CPU tensor) or into `gpuBuffer` (loadType 1), ORT_CHUNK bytes at a time, at most two chunks queued on the GPU.
 * Returns upstream's codes (0 done, 2 not mounted, 3 out of bounds, 4 failed: logged, naming the file); never
 * rejects, since an Asyncify import that rejects never resumes the module.
 */
Module['ortLoadExternalDataAsync'] = async (file, offset, length, dst, loadType, gpuBuffer, device) => {
  let path = '(unknown)';
  let scopes = 0;
  try {
    path = ortSplitPath(UTF8ToString(ortPtr(file))).path;
    const found = FS.analyzePath(path);
    if (!found.exists) {
      return 2;
    }
    const node = found.object;
    const size = node.ortHeap ? node.ortHeap.size : node.usedBytes;
    if (offset < 0 || length < 0 || offset + length > size) {
      return 3;
    }
    if (loadType !== 0 && !(loadType === 1 && gpuBuffer && device)) {
      throw new Error(`load type ${loadType} ${loadType === 1 ? 'without a GPU buffer or device' : 'unknown'}`);
    }
    if (loadType === 1 && gpuBuffer['size'] < Math.ceil(length / 4) * 4) {
      throw new Error(`its GPU buffer holds ${gpuBuffer['size']} bytes`);
    }
    const read = ortReaderOf(node);
    const to = ortPtr(dst);
    if (loadType === 1) {
      // a write the GPU refuses (a destroyed buffer, no memory) raises no exception: only an error scope sees it
      device['pushErrorScope']('out-of-memory');
      device['pushErrorScope']('validation');
      scopes = 2;
    }
    for (let at = 0; at < length; at += ORT_CHUNK) {
      const n = Math.min(ORT_CHUNK, length - at);
      if (loadType === 0 && node.ortFile) {
        ortReadFile(node.ortFile, new Uint8Array(ortHeapU8().buffer, to + at, n), offset + at);
        continue;
      }
      let bytes = await read(offset + at, n);
      if (loadType === 0) {
        const heap = ortHeapU8();  // after an await: the memory may have grown
        if (bytes.buffer === heap.buffer) {
          heap.copyWithin(to + at, bytes.byteOffset, bytes.byteOffset + n);
        } else {
          heap.set(bytes, to + at);
        }
        continue;
      }
      // writeBuffer wants a multiple of 4 bytes; the buffer is rounded up to 16 (webgpu/buffer_manager.cc)
      const n4 = Math.ceil(n / 4) * 4;
      if (n4 !== n) {
        const padded = new Uint8Array(n4);
        padded.set(bytes);
        bytes = padded;
      }
      device['queue']['writeBuffer'](gpuBuffer, at, bytes, 0, n4);
      // counted per device across loads: a model of many one-chunk tensors must wait too
      const queued = (ortQueuedWrites.get(device) || 0) + 1;
      ortQueuedWrites.set(device, queued === 2 ? 0 : queued);
      if (queued === 2) {
        await device['queue']['onSubmittedWorkDone']();
      }
    }
    const refused = await ortPopErrorScopes(device, scopes);
    scopes = 0;
    if (refused) {
      throw new Error(`the GPU refused a write: ${refused}`);
    }
    return 0;
  } catch (e) {
    await ortPopErrorScopes(device, scopes).catch(() => undefined);
    ortLog(undefined, 3, `${path}: loading ${length} bytes at offset ${offset} failed: ${e?.message ?? e}`);
    return 4;
  }
};

/**
 * Unlink what mountExternalData* wrote. A heap block lives on while ORT still maps it (initializers used in place)
 * and is freed at its last unmap.
 */
Module['unmountExternalData'] = () => {
  for (const path of ortMountLog.keys()) {
    ortUnlink(path);
  }
  ortMountLog.clear();
  delete Module.MountedFiles;
  ortChunkBuffer = null;
  // onnxruntime-web unmounts in createSession's finally block: this session's loads are over, failed or not (a
  // failed mount skips webgpuOnCreateSession), so the next session starts as a CPU one unless it registers a device
  ortWebGpuSession = undefined;
  Module['ortWebGpuDevice'] = undefined;
};

/**
 * What is mounted and what heap blocks are alive: {'mounted': [{path, byteLength, backing, reason}], 'heap':
 * [{path, byteLength, mappings, unlinked}], 'heapBytes'}.
 */
Module['externalDataStatus'] = () => {
  const heap = [...ortHeapFiles].map((r) => ({'path': r.path, 'byteLength': r.size, 'mappings': r.maps,
                                                  'unlinked': r.unlinked}));
  const files = [...ortOpenFiles].map((r) => ({'path': r.path, 'byteLength': r.size, 'mappings': r.maps,
                                               'unlinked': r.unlinked}));
  return {'mounted': [...ortMountLog.values()], 'heap': heap, 'files': files,
          'heapBytes': heap.reduce((a, r) => a + r['byteLength'], 0),
          'prepacking': ortPrepackLog.slice()};
};

//
// MLAS pre-packing against the heap. ORT packs every MatMul weight into a buffer of its own at session creation and
// only then unmaps the original. An original that sits in a heap-backed file's block stays until the whole file is
// freed, so such a model needs its weights twice in the heap (measured on wasm32-memfs: a 3 GiB MLP in two files
// fails with std::bad_alloc; with session.disable_prepacking=1 it loads at 1.04x the weights). File-backed files
// (Node paths) do not have this problem: each original is freed at its unmap.
//
// So when the heap-backed external data leaves no room for a packed copy beside it (2 x the bytes held, plus
// 512 MiB for ORT itself, past MAXIMUM_MEMORY), session creation sets session.disable_prepacking=1 and says so at
// warning level. MatMul then packs B on each run: slower inference (measured 5x on a 256 MiB MatMul at batch 2), but
// a load that otherwise fails. A session whose options set session.disable_prepacking itself (`extra: {session:
// {disable_prepacking: '0' | '1'}}`) is left alone. Each decision is in Module.externalDataStatus().prepacking.
//
// How: ortWrapExport (above) wraps Module._OrtAddSessionConfigEntry and Module._OrtCreateSession.
//

/** Session options handle -> config keys set on it. */
var ortSessionKeys = new Map();
/** Decisions taken: [{'disablePrepacking', 'heapBytes', 'reason'}]. */
var ortPrepackLog = [];
var ORT_PREPACK_KEY = 'session.disable_prepacking';

if (!ENVIRONMENT_IS_PTHREAD) {
  ortWrapExport('_OrtAddSessionConfigEntry', (add) => (handle, key, value) => {
    const h = ortPtr(handle);
    if (!ortSessionKeys.has(h)) {
      ortSessionKeys.set(h, new Set());
    }
    ortSessionKeys.get(h).add(UTF8ToString(ortPtr(key)));
    return add(handle, key, value);
  });
  ortWrapExport('_OrtReleaseSessionOptions', (release) => (handle) => {
    ortSessionKeys.delete(ortPtr(handle));
    return release(handle);
  });
  ortWrapExport('_OrtCreateSession', (create) => (data, length, handle) => {
    const keys = ortSessionKeys.get(ortPtr(handle));
    const held = ortHeapHeld();
    if (handle && held && !(keys && keys.has(ORT_PREPACK_KEY)) && 2 * held + 512 * 1024 ** 2 > ortHeapMax()) {
      const reason = `${held} bytes of external data in the heap leave no room for pre-packed copies of ` +
          `their MatMul weights (the heap stops at ${ortHeapMax()} bytes)`;
      const kv = Module['_malloc'](64);
      stringToUTF8(ORT_PREPACK_KEY, ortPtr(kv), 48);
      stringToUTF8('1', ortPtr(kv) + 48, 16);
      const rc = Module['_OrtAddSessionConfigEntry'](handle, kv, ortPtr(kv) + 48);
      Module['_free'](kv);
      ortPrepackLog.push({'disablePrepacking': rc === 0, 'heapBytes': held, 'reason': reason});
      ortLog(undefined, 2, `${reason}: ${ORT_PREPACK_KEY}=1 for this session (MatMul packs its weights on each ` +
                           'run instead); set extra.session.disable_prepacking to choose yourself');
    }
    return create(data, length, handle);
  });
}
