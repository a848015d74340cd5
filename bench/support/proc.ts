// Resident memory and CPU time of another process, from /proc (Linux): what the kernel charges
// the process, the same figures `ps`, `top` and systemd's MemoryMax see.

import { readFileSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { sleep } from '../../lib/timeout.ts';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) / 1024;
}

/** Resident set size now, MB. */
export const rssMb = (pid: number): number => status(pid, 'VmRSS');
/** Peak resident set size since the process started (VmHWM), MB. */
export const peakRssMb = (pid: number): number => status(pid, 'VmHWM');

/** CPU time the process has used so far, seconds: user, system (kernel on its behalf) and both. */
export function cpuTimes(pid: number): { user: number; system: number; total: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]) / CLK_TCK;
  const system = Number(fields[12]) / CLK_TCK;
  return { user, system, total: user + system };
}

/** CPU time (user + system) the process has used so far, seconds. */
export const cpuSeconds = (pid: number): number => cpuTimes(pid).total;

export interface RssWindow {
  /** Median of the samples: the steady figure. */
  median: number;
  min: number;
  max: number;
  /** VmHWM at the end of the window: the peak since the process started. */
  peak: number;
  samples: number;
  /** CPU seconds used during the window (user + system), and the system part. */
  cpuS: number;
  sysS: number;
  seconds: number;
}

/** Samples RSS every `everyMs` for `ms`, and the CPU time used meanwhile. */
export async function sampleWindow(pid: number, ms: number, everyMs = 500): Promise<RssWindow> {
  const samples: number[] = [];
  const cpu0 = cpuTimes(pid);
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    samples.push(rssMb(pid));
    await sleep(everyMs);
  }
  const cpu1 = cpuTimes(pid);
  const seconds = (performance.now() - t0) / 1000;
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    peak: peakRssMb(pid),
    samples: samples.length,
    cpuS: cpu1.total - cpu0.total,
    sysS: cpu1.system - cpu0.system,
    seconds,
  };
}

/** Throws with the tail of its output when the process has exited (a wait on it would only time out). */
export function assertAlive(p: { proc: ChildProcess; output(): string }, what: string): void {
  if (p.proc.exitCode !== null) throw new Error(`${what} exited ${p.proc.exitCode}: ${p.output().slice(-2000)}`);
}
