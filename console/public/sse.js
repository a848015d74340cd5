// Server-sent events read with fetch(), so the bearer token goes in the Authorization header
// (EventSource cannot send headers, and a token in a URL ends up in logs and history). Reconnects
// after `retry:` ms (default 2 s) with Last-Event-ID, so nothing is missed: the server replays the
// persisted events after that id.

/**
 * @typedef {{ id: string, type: string, data: any }} SseEvent
 * @typedef {(s: 'connecting' | 'open' | 'closed', detail?: string) => void} OnState
 * @param {{ url: string, token: string, signal: AbortSignal, onEvent: (e: SseEvent) => void, onState?: OnState }} o
 */
export async function readSse(o) {
  let lastId = '';
  let retry = 2000;
  while (!o.signal.aborted) {
    o.onState?.('connecting');
    try {
      /** @type {Record<string, string>} */
      const headers = { authorization: `Bearer ${o.token}`, accept: 'text/event-stream' };
      if (lastId) headers['last-event-id'] = lastId;
      const res = await fetch(o.url, { headers, signal: o.signal, cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        o.onState?.('closed', `refused (${res.status})`);
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      o.onState?.('open');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let id = '',
            type = 'message',
            data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (field === 'id') id = val;
            else if (field === 'event') type = val;
            else if (field === 'data') data += (data ? '\n' : '') + val;
            else if (field === 'retry' && /^\d+$/.test(val)) retry = Number(val);
          }
          if (id) lastId = id;
          if (data) {
            let parsed;
            try {
              parsed = JSON.parse(data);
            } catch {
              parsed = data;
            }
            o.onEvent({ id, type, data: parsed });
          }
        }
      }
    } catch (err) {
      if (o.signal.aborted) break;
      o.onState?.('connecting', String(err));
    }
    if (o.signal.aborted) break;
    await new Promise((r) => setTimeout(r, retry));
  }
  o.onState?.('closed');
}
