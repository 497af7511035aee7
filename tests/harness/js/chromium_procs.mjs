// The Chromium process tree under a driver (browser_run.mjs, browser_load_memory.mjs), read from /proc: one walk,
// so the memory both drivers report is measured the same way.  Chromium is a child of the driving Node process
// (playwright's Browser does not expose its pid).

import fs from 'node:fs';

/** Every descendant of `root` with its Chromium --type ('browser' when none), VmHWM and VmRSS in bytes. */
export function chromiumProcesses(root) {
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
      // Chromium rewrites its process titles: the arguments may be one space-separated string
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').flatMap((a) => a.split(' '));
      if (!argv[0] || !argv[0].includes('chrom')) continue;
      const typeArg = argv.find((a) => a.startsWith('--type='));
      const sub = argv.find((a) => a.startsWith('--utility-sub-type='));
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      out.push({ pid, type: typeArg ? typeArg.slice(7) : 'browser', sub_type: sub ? sub.slice(19) : null,
                 vm_hwm: kb('VmHWM'), vm_rss: kb('VmRSS') });
    } catch {
      /* process ended */
    }
  }
  return out;
}

export const sumOf = (procs, type, key) => procs.filter((p) => p.type === type).reduce((s, p) => s + p[key], 0);
