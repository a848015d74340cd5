// Structured logs: one JSON object a line (pino), with the role in every line so that the
// interleaved output of `testbed up` can be filtered per role.

import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(level = process.env.TESTBED_LOG_LEVEL ?? 'info'): Logger {
  root ??= pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
  return root;
}

export function setLogLevel(level: string): void {
  rootLogger().level = level;
}

export function logger(role: string): Logger {
  return rootLogger().child({ role });
}

/** A logger that writes nothing, for library users and tests that assert on behaviour instead. */
export const silentLogger: Logger = pino({ level: 'silent' });
