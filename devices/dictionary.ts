// Generates the data dictionary (Markdown) from the catalogue, so the document researchers read
// can never drift from what ingest validates. docs/data-dictionary.md is this output, checked by a test.

import { KINDS, QUALITY_FIELDS, BATTERY_LOW_PCT, type FieldSpec, type KindSpec } from './catalogue.ts';
import { CONTRACT_VERSION } from './contract.ts';

function range(f: FieldSpec): string {
  if (f.values) return f.values.map((v) => `\`${v}\``).join(', ');
  if (f.min !== undefined || f.max !== undefined) return `${f.min ?? '−∞'} … ${f.max ?? '∞'}`;
  return '';
}

/**
 * The fields as a Markdown table, its columns padded to their widest cell: the layout Biome's
 * formatter gives a table, so formatting docs/ leaves the generated file as it is.
 */
function fieldTable(fields: Readonly<Record<string, FieldSpec>>): string[] {
  const header = ['field', 'type', 'unit', 'range / values', 'required', 'meaning'];
  const rows = Object.entries(fields).map(([name, f]) => [
    `\`${name}\``,
    f.type,
    f.unit ?? '',
    range(f),
    f.required ? 'yes' : 'no',
    f.description,
  ]);
  // Width in code points: `…` and `−` are one character each, as Biome counts them.
  const width = (cell: string) => [...cell].length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]!))));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c + ' '.repeat(widths[i]! - width(c))).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function duration(s: number): string {
  return s % 3600 === 0 ? `${s / 3600} h` : `${s / 60} min`;
}

function reporting(k: KindSpec): string {
  const r = k.reporting;
  return r.mode === 'heartbeat'
    ? `periodic, every ${duration(r.intervalS)}; silent after ${duration(r.maxSilenceS)}`
    : `on events, with a status report every ${duration(r.heartbeatS)}; silent after ${duration(r.maxSilenceS)}`;
}

export function dataDictionary(): string {
  const out: string[] = [
    '# Data dictionary',
    '',
    `Generated from \`devices/catalogue.ts\` (wire contract ${CONTRACT_VERSION}) by \`testbed dictionary\`. Do not edit by hand.`,
    '',
    'Every reading is stored as one point: measurement = the kind; tags `site`, `gateway`, `device`',
    '(and, once the registry assigns them, `home` and `participant` pseudonym — never a name or other',
    'personal data); fields = the values below, the quality fields, and `seq` (integer, per device,',
    'monotonic: gaps are readings lost in transit); time = when the device measured it (edge clock),',
    'to the millisecond. In InfluxDB the sub-millisecond digits of the timestamp carry `seq mod 10⁶`, so',
    'two readings of one device in the same millisecond stay two points and a resend rewrites the same one.',
    '',
    '## Quality fields (any kind)',
    '',
    ...fieldTable(QUALITY_FIELDS),
    '',
    `A battery at or below ${BATTERY_LOW_PCT} % counts as battery-low.`,
    '',
  ];
  for (const k of Object.values(KINDS) as KindSpec[]) {
    out.push(
      `## \`${k.kind}\` — ${k.title}`,
      '',
      k.description,
      '',
      `Reporting: ${reporting(k)}. ${k.reportingSource}`,
      '',
      `Real devices: ${k.examples.join('; ')}.`,
      '',
      ...fieldTable(k.fields),
      '',
    );
  }
  return out.join('\n');
}
