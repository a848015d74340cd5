import { describe, it, expect } from 'vitest';
import {
  toLine,
  timestampNs,
  escapeKey,
  escapeMeasurement,
  escapeStringField,
  LineProtocolError,
  splitTimestampNs,
} from '../../ingest/line-protocol.ts';
import { SeqWindow } from '../../ingest/dedupe.ts';
import type { Reading } from '../../devices/index.ts';

const T = 1_700_000_000_123;

describe('line protocol', () => {
  it('types fields by the catalogue: integer i, number float even when whole, boolean, string quoted; q and seq integers', () => {
    const climate: Reading = {
      dev: 'a-living-climate',
      kind: 'climate',
      seq: 42,
      ts: T,
      v: { temperature_c: 21, humidity_pct: 40.5 },
      q: { battery: 87, lqi: 120 },
    };
    expect(toLine(climate, { site: 'aarhus', gateway: 'gw-1' })).toBe(
      'climate,device=a-living-climate,gateway=gw-1,site=aarhus ' +
        'temperature_c=21,humidity_pct=40.5,battery=87i,lqi=120i,seq=42i 1700000000123000042',
    );
    const hydration: Reading = { dev: 'cup', kind: 'hydration', seq: 7, ts: T, v: { intake_ml: 150 } };
    expect(toLine(hydration, { site: 's', gateway: 'g' })).toBe(
      'hydration,device=cup,gateway=g,site=s intake_ml=150i,seq=7i 1700000000123000007',
    );
    const fall: Reading = { dev: 'radar', kind: 'fall', seq: 1, ts: T, v: { fall: true, state: 'fall', presence: false } };
    expect(toLine(fall, { site: 's', gateway: 'g' })).toBe(
      'fall,device=radar,gateway=g,site=s fall=true,state="fall",presence=false,seq=1i 1700000000123000001',
    );
  });

  it('escapes tags, measurement, field keys and string values', () => {
    expect(escapeKey('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(escapeMeasurement('m e,x')).toBe('m\\ e\\,x');
    expect(escapeStringField('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
    const r: Reading = { dev: 'dev:1.a_b', kind: 'door', seq: 3, ts: T, v: { open: false } };
    expect(toLine(r, { site: 's', gateway: 'g', extra: { home: 'home 1,a=b', empty: '' } })).toBe(
      'door,device=dev:1.a_b,gateway=g,home=home\\ 1\\,a\\=b,site=s open=false,seq=3i 1700000000123000003',
    );
    expect(() => escapeKey('a\nb')).toThrow(LineProtocolError);
    expect(() => escapeKey('ends\\')).toThrow(LineProtocolError);
  });

  it('extra tags cannot override site, gateway or device', () => {
    const r: Reading = { dev: 'd', kind: 'bed', seq: 1, ts: T, v: { occupied: true } };
    expect(toLine(r, { site: 's', gateway: 'g', extra: { site: 'evil', device: 'x' } })).toBe(
      'bed,device=d,gateway=g,site=s occupied=true,seq=1i 1700000000123000001',
    );
  });

  it('refuses values whose type does not match the catalogue', () => {
    expect(() => toLine({ dev: 'd', kind: 'hydration', seq: 1, ts: T, v: { intake_ml: 1.5 } }, { site: 's', gateway: 'g' })).toThrow(
      /integer/,
    );
    expect(() =>
      toLine({ dev: 'd', kind: 'climate', seq: 1, ts: T, v: { temperature_c: 'x' as unknown as number } }, { site: 's', gateway: 'g' }),
    ).toThrow(/number/);
    expect(() => toLine({ dev: 'd', kind: 'climate', seq: 1, ts: T, v: { nope: 1 } as never }, { site: 's', gateway: 'g' })).toThrow(
      /unknown field/,
    );
  });

  it('timestamp = ts_ms * 1e6 + seq mod 1e6, exactly (no float rounding)', () => {
    expect(timestampNs(T, 0)).toBe('1700000000123000000');
    expect(timestampNs(T, 1_234_567)).toBe('1700000000123234567');
    expect(BigInt(timestampNs(T, 999_999))).toBe(BigInt(T) * 1_000_000n + 999_999n);
    expect(splitTimestampNs('1700000000123000042')).toEqual({ tsMs: T, seqLow: 42 });
    // Two readings of one device in the same millisecond are two points.
    expect(timestampNs(T, 5)).not.toBe(timestampNs(T, 6));
  });
});

describe('SeqWindow', () => {
  const T = 1_763_800_000_000;
  it('remembers confirmed (seq, ts) within the window, forgets older ones', () => {
    const w = new SeqWindow(64);
    expect(w.has('d', 1, T + 1)).toBe(false);
    w.markConfirmed('d', 1, T + 1);
    w.markConfirmed('d', 3, T + 3);
    expect(w.has('d', 1, T + 1)).toBe(true);
    expect(w.has('d', 2, T + 2)).toBe(false);
    expect(w.has('d', 3, T + 3)).toBe(true);
    w.markConfirmed('d', 70, T + 70); // slides: 1..6 out of the window
    expect(w.has('d', 3, T + 3)).toBe(false);
    expect(w.has('d', 70, T + 70)).toBe(true);
    expect(w.has('d', 69, T + 69)).toBe(false);
    w.markConfirmed('d', 69, T + 69);
    expect(w.has('d', 69, T + 69)).toBe(true);
    w.markConfirmed('d', 1000, T + 1000);
    expect(w.has('d', 70, T + 70)).toBe(false);
    expect(w.has('d', 1000, T + 1000)).toBe(true);
    expect(w.has('e', 1000, T + 1000)).toBe(false);
    // slot reuse after sliding: seq 1000-64 shares a slot with 1000 but must not read as confirmed
    expect(w.has('d', 1000 - 64, T + 1000)).toBe(false);
    w.markConfirmed('d', 1001, T + 1001);
    expect(w.has('d', 1001 - 64, T + 1001)).toBe(false);
  });
  it('a seq seen before with another timestamp is a new reading (a gateway whose counter restarted), not a duplicate', () => {
    const w = new SeqWindow(64);
    w.markConfirmed('d', 5, T);
    expect(w.has('d', 5, T)).toBe(true);
    expect(w.has('d', 5, T + 86_400_000)).toBe(false);
  });
});
