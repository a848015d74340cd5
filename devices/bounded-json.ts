// Parsing a gateway's JSON within bounds, for every channel (`up` included): size first, then
// nesting depth, then JSON.parse. Deep nesting is the one shape that breaks code after parsing:
// JSON.stringify and String() of a 10,000-deep array throw RangeError (stack), so a payload that
// parsed fine could still crash whatever dead-letters or logs it.

/** Deepest nesting of arrays and objects accepted in any gateway payload (the contract needs 4). */
export const MAX_JSON_DEPTH = 16;

export type BoundedParse = { ok: true; value: unknown } | { ok: false; code: 'oversize' | 'invalid_json'; reason: string };

/** Deepest nesting of `[`/`{` in JSON text, scanning bytes (strings skipped); stops counting past `limit`. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Parses a gateway payload within bounds: size first (no work on a huge payload), then nesting
 * depth (deep nesting costs the parser and every later walk, e.g. a JSON.stringify for a dead
 * letter), then JSON itself. Never throws.
 */
export function parseBounded(payload: Buffer | string, maxBytes: number, maxDepth = MAX_JSON_DEPTH): BoundedParse {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return { ok: false, code: 'oversize', reason: `payload of ${size} bytes exceeds ${maxBytes}` };
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  const depth = jsonDepth(text, maxDepth);
  if (depth > maxDepth) return { ok: false, code: 'invalid_json', reason: `nested deeper than ${maxDepth} levels` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, code: 'invalid_json', reason: `not JSON: ${String((err as Error).message).slice(0, 200)}` };
  }
}
