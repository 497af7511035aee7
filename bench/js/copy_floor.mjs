#!/usr/bin/env node
// The floor a load is judged against: the time to read the same files into fresh WebAssembly memory, in the same
// process kind (Node 24) and the same run. Prints ONE JSON line: {bytes, ms, gb_per_s, peak_rss}.
//
//   node copy_floor.mjs FILE...
//
// A 64-bit memory (Memory64) when the files pass 4 GiB, so the copy goes where a wasm64 load puts it; pages are
// grown as the copy goes (fresh pages: the kernel zero-fills each on first touch, as for a wasm heap).
import fs from 'node:fs';

const files = process.argv.slice(2);
const total = files.reduce((n, f) => n + fs.statSync(f).size, 0);
const PAGE = 65536;
const CHUNK = 32 * 1024 * 1024;
const wide = total + CHUNK >= 2 ** 32;
const pages = Math.ceil((total + CHUNK) / PAGE);
const memory = wide ? new WebAssembly.Memory({ initial: 1n, maximum: BigInt(pages), address: 'i64' })
  : new WebAssembly.Memory({ initial: 1, maximum: pages });
const t0 = performance.now();
let at = 0;
for (const f of files) {
  const fd = fs.openSync(f, 'r');
  const size = fs.fstatSync(fd).size;
  for (let got = 0; got < size;) {
    const n = Math.min(CHUNK, size - got);
    const need = Math.ceil((at + n) / PAGE) - memory.buffer.byteLength / PAGE;
    if (need > 0) memory.grow(wide ? BigInt(need) : need);
    const r = fs.readSync(fd, new Uint8Array(memory.buffer, at, n), 0, n, got);
    if (!r) throw new Error(`${f} ended at ${got}`);
    got += r;
    at += r;
  }
  fs.closeSync(fd);
}
const ms = performance.now() - t0;
const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ bytes: total, ms, gb_per_s: total / 1e9 / (ms / 1e3), peak_rss: hwm ? Number(hwm[1]) * 1024 : null }));
