// Durations and instants as the scenario files and the CLI write them.

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const UNIT: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/** Parses `90s`, `15m`, `3h`, `1d6h`, `2w`, `-5m`, `+2h` (or a bare number of seconds). Null if malformed. */
export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) ? text * SECOND : null;
  const s = text.trim();
  if (/^[+-]?\d+(\.\d+)?$/.test(s)) return Number(s) * SECOND;
  const m = /^([+-]?)((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)$/.exec(s);
  if (!m) return null;
  let total = 0;
  for (const part of (m[2] as string).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g))
    total += Number(part[1]) * (UNIT[part[2] as string] as number);
  return m[1] === '-' ? -total : total;
}

/** Parses an ISO 8601 instant (a zone is required: `Z` or `+01:00`). Null if malformed. */
export function parseInstant(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text.trim())) return null;
  const t = Date.parse(/T/.test(text) || text.trim().length > 10 ? text : `${text.trim()}T00:00:00Z`);
  return Number.isFinite(t) ? t : null;
}

/** `HH:MM` → milliseconds after midnight. Null if malformed. */
export function parseClock(text: string): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return null;
  return h * HOUR + min * MINUTE;
}

export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms / SECOND));
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return sign + (parts.join('') || '0s');
}
