// One schema per entity, one list per enum: what is derived from them must match what the
// database has. The SQL CHECK lists of migration 1 are the enum arrays; migration 1 is still its
// released text (a released migration is never edited: a changed enum needs a new migration); the
// columns derived from each entity schema are the table's columns, and the trial file checks its
// enum fields against the same lists.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, openDatabase, migrate } from '../../registry/index.ts';
import * as enums from '../../registry/schemas/enums.ts';
import * as tables from '../../registry/tables.ts';
import { TrialFileSchema } from '../../registry/trial-file.ts';
import { freshDatabase } from '../support/registry.ts';

const first = MIGRATIONS[0]!.up as string;

describe('enums written once', () => {
  it("migration 1's CHECK lists are the enum arrays", () => {
    const checks = Object.fromEntries(
      [...first.matchAll(/(\w+) IN \(([^)]*)\)/g)].map(([, col, list]) => [col, list!.split(', ').map((v) => v.replace(/'/g, ''))]),
    );
    expect(checks).toEqual({
      type: [...enums.ORG_TYPES],
      phase: [...enums.PHASES],
      consent_status: [...enums.CONSENT_STATUSES],
      legal_basis: [...enums.LEGAL_BASES],
      past_data: [...enums.PAST_DATA],
      reason: [...enums.ABSENCE_REASONS],
      // users: `role IN (<all roles>)`, then the narrower rule that admins and researchers need no organisation.
      role: ['admin', 'researcher'],
    });
    expect(first).toContain(`role IN (${enums.sqlIn(enums.ROLES)})`);
  });

  it('migration 1 is the released text, byte for byte', () => {
    expect(createHash('sha256').update(first).digest('hex')).toBe('188dc32f60085537250c04090485ac8f2de4c20bac57d6f47b12bb5c2f36b424');
  });

  it("the trial file's enum fields are the same lists", () => {
    const p = TrialFileSchema.properties;
    const participant = p.participants.items.properties;
    expect(p.organisations.items.properties.type.enum).toEqual([...enums.ORG_TYPES]);
    expect(p.trial.properties.phase.enum).toEqual([...enums.PHASES]);
    expect(participant.consent.properties.status.enum).toEqual([...enums.CONSENT_STATUSES]);
    expect(participant.consent.properties.legalBasis.enum).toEqual([...enums.LEGAL_BASES]);
    expect(participant.withdrawn.properties.pastData.enum).toEqual([...enums.PAST_DATA]);
    expect(participant.absences.items.properties.reason.enum).toEqual([...enums.ABSENCE_REASONS]);
  });

  it('refuses an enum value SQL would need quoting for', () => {
    expect(() => enums.sqlIn(["it's"])).toThrow(/lowercase letters and dashes/);
  });
});

describe('columns derived from the entity schemas', () => {
  it("are each table's columns, but for the secrets the entities never carry", async () => {
    const fresh = await freshDatabase('sqlite');
    const db = await openDatabase({ databaseUrl: '', dataDir: fresh.dataDir });
    try {
      await migrate(db);
      const notInEntity: Record<string, string[]> = { gateways: ['password_hash'], api_tokens: ['secret_hash'] };
      for (const table of Object.values(tables)) {
        const actual = (await db.all<{ name: string }>(`SELECT name FROM pragma_table_info('${table.name}')`)).map((r) => r.name);
        expect([...table.columns, ...(notInEntity[table.name] ?? [])].sort(), table.name).toEqual(actual.sort());
      }
      // The two renamed fields: `from`/`to` are SQL keywords.
      expect(tables.absences.columns).toEqual(expect.arrayContaining(['from_ts', 'to_ts']));
    } finally {
      await db.close();
      await fresh.drop();
    }
  });
});
