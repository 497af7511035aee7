// The byte readers of runtime/pre-memfs.js, taken from the source file itself with a small ORT_CHUNK, on every kind
// of stream they meet: a Blob's and a fetch Response's body (byte streams: the BYOB path) and a plain ReadableStream
// (the default reader). Prints one JSON object; tests/test_runtime_readers.py judges it.
//
//   node runtime_readers.mjs RUNTIME_JS

import fs from 'node:fs';

const runtimePath = process.argv[2];
const src = fs.readFileSync(runtimePath, 'utf8');
const take = (name) => {
  const i = src.indexOf(`var ${name} = `);
  if (i < 0) throw new Error(`no \`var ${name}\` in ${runtimePath}`);
  return src.slice(i, src.indexOf('\n};\n', i) + 4);
};
const CHUNK = 1000;
const names = ['ortByobReader', 'ortByobFill', 'ortStreamReader', 'ortReadChunk'];
const { ortStreamReader, ortReadChunk } = new Function(
  'ORT_CHUNK', `var ortChunkBuffer = null;\n${names.map(take).join('\n')}\nreturn { ortStreamReader, ortReadChunk };`,
)(CHUNK);

const data = new Uint8Array(12345).map((_, k) => (k * 7 + (k >> 8)) & 255);
const same = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const plain = (bytes, cut) => new ReadableStream({
  start(c) {
    c.enqueue(bytes.slice(0, cut));
    c.enqueue(bytes.slice(cut));
    c.close();
  },
});
const streams = {
  blob: () => new Blob([data]).stream(),
  response: () => new Response(data).body,
  plain: () => plain(data, 5000),
};

const out = { chunk: CHUNK, size: data.length, stream: {}, chunkReads: {} };
for (const [kind, make] of Object.entries(streams)) {
  const r = ortStreamReader(make(), data.length, kind);
  const kept = [];
  let views = 0;
  for (let c; (c = await r.next()) !== null;) {
    views++;
    kept.push(r.reused ? c.slice() : c);
  }
  out.stream[kind] = { reused: !!r.reused, views, equal: same(Buffer.concat(kept), data) };
}

const readChunk = async (stream, n) => {
  try {
    const v = await ortReadChunk(stream, n, 'case');
    return { ok: true, equal: same(v, data.subarray(0, n)) };
  } catch (e) {
    return { ok: false, error: String(e.message) };
  }
};
const blobOf = (n) => new Blob([data.subarray(0, n)]).stream();
out.chunkReads = {
  blobExact: await readChunk(blobOf(3000), 3000),
  blobShort: await readChunk(blobOf(2500), 3000),
  blobLong: await readChunk(blobOf(3500), 3000),
  plainExact: await readChunk(plain(data.subarray(0, 3000), 1200), 3000),
  plainLong: await readChunk(plain(data.subarray(0, 3500), 1200), 3000),
  afterFailure: await readChunk(blobOf(4000), 4000),
};
console.log(JSON.stringify(out));
