// Reading an external data file into one Uint8Array, for the Node harnesses that hand bytes to onnxruntime-web
// (ort_web_node.mjs, profile_load.mjs).

import fs from 'node:fs';

const CHUNK = 64 * 1024 * 1024;

/** Read a file of any size into one Uint8Array (readFileSync refuses files over 2 GiB). */
export function readWhole(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const bytes = new Uint8Array(size);
    for (let off = 0; off < size;) {
      const n = fs.readSync(fd, bytes, off, Math.min(CHUNK, size - off), off);
      if (n <= 0) throw new Error(`short read of ${file} at ${off}`);
      off += n;
    }
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
