// The browser's process tree under a driver (browser_run.mjs, browser_load_memory.mjs), read from /proc: one walk
// for both engines, so the memory every driver reports is measured the same way.  The browser is a child of the
// driving Node process (playwright's Browser does not expose its pid; puppeteer's does, but the walk needs none).
//
// Why a table per engine: each names its processes differently.  Chromium puts --type=renderer (gpu-process,
// utility, ...) in the arguments; the main process has none.  Firefox's children are `firefox-esr -contentproc ...
// <n> <kind>`, the kind last (tab, socket, rdd, utility, gpu, forkserver), and their comm says which content
// process a `tab` is ("Web Content", "Isolated Web Co", "WebExtensions").  `content` is the kind that holds a page
// (its JS, the wasm heap, the fetched bytes); `gpu` the one issue #13 sums beside it.

import fs from 'node:fs';

export const ENGINES = {
  chromium: {
    binary: 'chrom',
    content: 'renderer',
    gpu: 'gpu-process',
    kind(argv) {
      const typeArg = argv.find((a) => a.startsWith('--type='));
      const sub = argv.find((a) => a.startsWith('--utility-sub-type='));
      return { type: typeArg ? typeArg.slice(7) : 'browser', sub_type: sub ? sub.slice(19) : null };
    },
  },
  firefox: {
    binary: 'firefox',
    content: 'tab',
    gpu: 'gpu',
    kind(argv, comm) {
      return argv.includes('-contentproc') ? { type: argv.at(-1), sub_type: comm } : { type: 'browser', sub_type: null };
    },
  },
};

/** The engine's table; an unknown name is the job's mistake, said as such. */
export function engineOf(name) {
  const engine = ENGINES[name];
  if (!engine) throw new Error(`job.engine ${JSON.stringify(name)} is not one of ${Object.keys(ENGINES).join(', ')}`);
  return engine;
}

/** Every descendant of `root` that is the engine's binary, with its type, sub_type, VmHWM and VmRSS in bytes. */
export function browserProcesses(root, engineName) {
  const engine = engineOf(engineName);
  const children = new Map();
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
    } catch {
      /* process ended */
    }
  }
  const out = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop();
    stack.push(...(children.get(pid) ?? []));
    try {
      // both engines rewrite their process titles: the arguments may be one space-separated string
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').flatMap((a) => a.split(' '))
        .filter(Boolean);
      if (!argv[0] || !argv[0].includes(engine.binary)) continue;
      const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      out.push({ pid, ...engine.kind(argv, comm), vm_hwm: kb('VmHWM'), vm_rss: kb('VmRSS') });
    } catch {
      /* process ended */
    }
  }
  return out;
}

export const sumOf = (procs, type, key) => procs.filter((p) => p.type === type).reduce((s, p) => s + p[key], 0);

/**
 * Each process's peak over a run: the function returned walks the tree and returns the processes alive now, each
 * with the largest VmHWM seen for its pid so far; drivers call it on a 200 ms timer and once at the end.  Why not one read of
 * VmHWM at the end: Chromium resets every process's VmHWM (clear_refs 5) whenever it takes a memory dump, on its own
 * about 45 s after launch and then about once a minute, so a read at the end of a longer run had lost the load's
 * peak (mlp_5g_split on the WebGPU EP: 0.50 GiB read at the end, 1.28-1.38 GiB sampled).  The interval bounds what a
 * reset can hide to what a process grew in the 200 ms before it.  The driver's timer runs in Node, so it samples
 * while wasm blocks the page.
 */
export function peakTracker(root, engineName) {
  const peaks = new Map();
  return () => browserProcesses(root, engineName).map((p) => {
    const peak = { ...p, vm_hwm: Math.max(p.vm_hwm, peaks.get(p.pid)?.vm_hwm ?? 0) };
    peaks.set(p.pid, peak);
    return peak;
  });
}
