// One InfluxDB HTTP endpoint, as the write side sees it: where to POST line protocol, with which
// credentials, and what the answer means. It only sends; the spool and the retry loop around it
// (../influx-store.ts) decide what to do with each outcome.
//
//   POST /write?db=…&precision=ns                    (v1: InfluxDB 1.x, 2.x/3.x compat, VictoriaMetrics)
//   POST /api/v2/write?org=…&bucket=…&precision=ns   (v2: 1.8+, 2.x, 3.x, VictoriaMetrics)

import { quoteInfluxIdent } from '../../lib/quote.ts';

export interface InfluxEndpointOptions {
  url: string;
  db: string;
  api: 'v1' | 'v2';
  org?: string | undefined;
  /** v2: API token. v1: `user:password` (sent as u/p parameters), or a bare token (sent as `Authorization: Token`). */
  token?: string | undefined;
  requestTimeoutMs?: number | undefined;
}

/**
 * What one write request came to. The rules, in one place (writeOutcome):
 * 2xx → ok; 400 / 413 / 422 → bad data ("partial write": retrying cannot help, bisect instead);
 * anything else, and no answer at all (network error, timeout) → retry the same request.
 */
export type WriteOutcome =
  | { kind: 'ok' }
  | { kind: 'retry'; reason: string; status?: number }
  | { kind: 'bad'; status: number; text: string };

export function writeOutcome(status: number, body: string): WriteOutcome {
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 400 || status === 413 || status === 422) return { kind: 'bad', status, text: errorText(body) };
  return { kind: 'retry', reason: `HTTP ${status}: ${errorText(body)}`, status };
}

export class InfluxEndpoint {
  readonly opts: InfluxEndpointOptions;

  constructor(opts: InfluxEndpointOptions) {
    this.opts = opts;
  }

  /** v1 `user:password` split in two; [undefined, undefined] for a bare token or v2. */
  userPassword(): [string | undefined, string | undefined] {
    const t = this.opts.token;
    if (this.opts.api === 'v1' && t && t.includes(':')) {
      const i = t.indexOf(':');
      return [t.slice(0, i), t.slice(i + 1)];
    }
    return [undefined, undefined];
  }

  #authHeaders(): Record<string, string> {
    const t = this.opts.token;
    if (!t) return {};
    if (this.opts.api === 'v1' && t.includes(':')) return {};
    return { authorization: `Token ${t}` };
  }

  #writeUrl(): string {
    if (this.opts.api === 'v2') {
      const params = new URLSearchParams({ org: this.opts.org ?? '', bucket: this.opts.db, precision: 'ns' });
      return `${this.opts.url}/api/v2/write?${params}`;
    }
    const params = new URLSearchParams({ db: this.opts.db, precision: 'ns' });
    this.#addUserPassword(params);
    return `${this.opts.url}/write?${params}`;
  }

  #addUserPassword(params: URLSearchParams): void {
    const [u, p] = this.userPassword();
    if (u !== undefined) {
      params.set('u', u);
      params.set('p', p ?? '');
    }
  }

  #timeout(): AbortSignal {
    return AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000);
  }

  /** `CREATE DATABASE` (v1; a no-op when it exists). Throws with InfluxDB's answer when refused. */
  async createDatabase(): Promise<void> {
    const params = new URLSearchParams({ q: `CREATE DATABASE ${quoteInfluxIdent(this.opts.db)}` });
    this.#addUserPassword(params);
    const res = await fetch(`${this.opts.url}/query?${params}`, { method: 'POST', headers: this.#authHeaders(), signal: this.#timeout() });
    const text = await res.text();
    if (!res.ok || /"error"/.test(text)) throw new Error(`CREATE DATABASE ${this.opts.db}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }

  /** One write request of newline-separated lines; never throws (a failure to connect is a 'retry'). */
  async write(body: string, signal: AbortSignal): Promise<WriteOutcome> {
    let res: Response;
    try {
      res = await fetch(this.#writeUrl(), {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8', ...this.#authHeaders() },
        body,
        signal: AbortSignal.any([signal, this.#timeout()]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { kind: 'retry', reason: `${e.name}: ${e.cause?.code ?? e.message}` };
    }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    return writeOutcome(res.status, text);
  }
}

/** InfluxDB's error message out of its JSON answer (`error`, or v2's `message`), at most 2,000 characters. */
function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    return (body.error ?? body.message ?? text).slice(0, 2000);
  } catch {
    return text.slice(0, 2000);
  }
}
