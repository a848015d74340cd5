// Trial as code: one YAML file describes a trial — its organisations, sites, homes, pseudonymous
// participants (with consent, absences, withdrawal), devices and their assignments to homes over
// time. `apply` creates what is missing and updates what differs, through the registry (so every
// rule and every audit entry applies); applying the same file twice changes nothing. `export`
// writes a trial back in the same format, so export → apply is a no-op.
//
// Matching is by id: organisations, sites, trials, homes and devices by their ids, participants by
// pseudonym (a file names its participants' pseudonyms; the registry never invents them for a
// file, or a second apply would enrol the same person twice), assignments by (device, home,
// from), absences by (participant, from, reason). Nothing is deleted by apply: history stays.

import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ApiError } from '../lib/errors.ts';
import type { Actor, Registry } from './registry.ts';
import { AbsenceReason, type Assignment, ConsentStatus, LegalBasis, OrgType, PastData, Phase } from './schemas/index.ts';

const When = Type.Union([Type.String({ minLength: 4 }), Type.Integer({ minimum: 0 })], {
  description: 'ISO 8601 date or time, or epoch ms',
});
const Obj = <P extends Parameters<typeof Type.Object>[0]>(p: P) => Type.Object(p, { additionalProperties: false });

export const TrialFileSchema = Obj({
  apiVersion: Type.Literal('testbed/v1'),
  kind: Type.Literal('Trial'),
  organisations: Type.Optional(Type.Array(Obj({ id: Type.String(), name: Type.String(), type: OrgType }))),
  sites: Type.Optional(
    Type.Array(
      Obj({
        id: Type.String(),
        org: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        name: Type.String(),
        facilities: Type.Optional(Type.Array(Type.String())),
        description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      }),
    ),
  ),
  trial: Obj({
    id: Type.String(),
    org: Type.String(),
    name: Type.String(),
    phase: Phase,
    protocolVersion: Type.String(),
    start: When,
    end: Type.Optional(Type.Union([When, Type.Null()])),
    sites: Type.Array(Type.String()),
  }),
  homes: Type.Optional(
    Type.Array(Obj({ id: Type.String(), site: Type.String(), label: Type.Optional(Type.Union([Type.String(), Type.Null()])) })),
  ),
  participants: Type.Optional(
    Type.Array(
      Obj({
        id: Type.String({ description: 'Pseudonym P-XXXXXX' }),
        home: Type.String(),
        enrolled: When,
        consent: Obj({
          status: ConsentStatus,
          scope: Type.Optional(Type.Array(Type.String())),
          legalBasis: LegalBasis,
        }),
        withdrawn: Type.Optional(Obj({ at: When, pastData: PastData })),
        absences: Type.Optional(
          Type.Array(
            Obj({
              from: When,
              to: Type.Optional(Type.Union([When, Type.Null()])),
              reason: AbsenceReason,
            }),
          ),
        ),
      }),
    ),
  ),
  devices: Type.Optional(
    Type.Array(
      Obj({
        id: Type.String(),
        kind: Type.String(),
        vendor: Type.String(),
        model: Type.String(),
        firmware: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        zigbeeAddress: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        serial: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        owner: Type.String(),
        assignments: Type.Optional(
          Type.Array(
            Obj({
              home: Type.String(),
              participant: Type.Optional(Type.Union([Type.String(), Type.Null()])),
              from: When,
              to: Type.Optional(Type.Union([When, Type.Null()])),
            }),
          ),
        ),
      }),
    ),
  ),
});
export type TrialFile = Static<typeof TrialFileSchema>;

export interface ApplyReport {
  created: string[];
  updated: string[];
  unchanged: number;
}

function ms(v: string | number, where: string): number {
  if (typeof v === 'number') return v;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new ApiError(400, `${where}: '${v}' is not a date (use ISO 8601, e.g. 2025-03-01 or 2025-03-01T08:00:00Z)`);
  return t;
}
const msOrNull = (v: string | number | null | undefined, where: string) => (v === null || v === undefined ? null : ms(v, where));
const isoOf = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** Parses and validates a trial file; errors name the path inside the file. */
export function parseTrialFile(text: string): TrialFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ApiError(400, `not YAML: ${(err as Error).message}`);
  }
  if (!Value.Check(TrialFileSchema, doc)) {
    const errs = [...Value.Errors(TrialFileSchema, doc)].filter((e) => e.keyword !== 'boolean').slice(0, 10);
    const lines = errs.map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` (${JSON.stringify(e.params)})` : '';
      return `  ${e.instancePath || '/'}: ${e.message}${extra}`;
    });
    throw new ApiError(400, `trial file is not valid:\n${lines.join('\n')}`);
  }
  return doc;
}

/** Only the fields of `want` that differ from `cur` (undefined: nothing to change). */
function diff<T extends Record<string, unknown>>(current: object, want: T): Partial<T> | undefined {
  const cur = current as Record<string, unknown>;
  const out: Partial<T> = {};
  let any = false;
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined) continue;
    if (JSON.stringify(cur[k] ?? null) !== JSON.stringify(v ?? null)) {
      (out as Record<string, unknown>)[k] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

async function exists<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/**
 * Creates or updates everything in the file. Each entity is its own transaction; a failure stops
 * the apply with what was done so far (re-applying after a fix completes it).
 */
export async function applyTrialFile(registry: Registry, a: Actor, file: TrialFile): Promise<ApplyReport> {
  const report: ApplyReport = { created: [], updated: [], unchanged: 0 };
  const step = async <C>(label: string, cur: C | undefined, create: () => Promise<unknown>, patch: (cur: C) => Promise<boolean>) => {
    if (cur === undefined) {
      await create();
      report.created.push(label);
    } else if (await patch(cur)) report.updated.push(label);
    else report.unchanged++;
  };

  for (const o of file.organisations ?? []) {
    await step(
      `organisation ${o.id}`,
      await exists(() => registry.getOrganisation(a, o.id)),
      () => registry.createOrganisation(a, o),
      async (cur) => {
        const d = diff(cur, { name: o.name, type: o.type });
        if (!d) return false;
        await registry.updateOrganisation(a, o.id, d);
        return true;
      },
    );
  }
  for (const s of file.sites ?? []) {
    const want = { orgId: s.org ?? null, name: s.name, facilities: s.facilities ?? [], description: s.description ?? null };
    await step(
      `site ${s.id}`,
      await exists(() => registry.getSite(a, s.id)),
      () => registry.createSite(a, { id: s.id, ...want }),
      async (cur) => {
        const d = diff(cur, want);
        if (!d) return false;
        await registry.updateSite(a, s.id, d);
        return true;
      },
    );
  }
  const t = file.trial;
  const trialWant = {
    name: t.name,
    phase: t.phase,
    protocolVersion: t.protocolVersion,
    startAt: ms(t.start, 'trial.start'),
    endAt: msOrNull(t.end, 'trial.end'),
    siteIds: [...new Set(t.sites)].sort(),
  };
  await step(
    `trial ${t.id}`,
    await exists(() => registry.getTrial(a, t.id)),
    () => registry.createTrial(a, { id: t.id, orgId: t.org, ...trialWant }),
    async (cur) => {
      if (cur.orgId !== t.org)
        throw new ApiError(
          409,
          `trial ${t.id} is coordinated by '${cur.orgId}' in the registry, not '${t.org}'; a trial cannot change organisation`,
        );
      const d = diff(cur, trialWant);
      if (!d) return false;
      await registry.updateTrial(a, t.id, d);
      return true;
    },
  );
  for (const h of file.homes ?? []) {
    await step(
      `home ${h.id}`,
      await exists(() => registry.getHome(a, h.id)),
      () => registry.createHome(a, { id: h.id, siteId: h.site, label: h.label ?? null }),
      async (cur) => {
        if (cur.siteId !== h.site)
          throw new ApiError(
            409,
            `home ${h.id} is at site '${cur.siteId}' in the registry, not '${h.site}'; a home cannot move between sites`,
          );
        const d = diff(cur, { label: h.label ?? null });
        if (!d) return false;
        await registry.updateHome(a, h.id, d);
        return true;
      },
    );
  }

  if (file.participants?.length) {
    const known = new Map((await registry.listParticipants(a, { trialId: t.id, limit: 1_000_000 })).map((p) => [p.id, p]));
    for (const p of file.participants) {
      const where = `participant ${p.id}`;
      const enrolledAt = ms(p.enrolled, `${where}.enrolled`);
      const consent = { consentScope: p.consent.scope ?? [], legalBasis: p.consent.legalBasis };
      let cur = known.get(p.id);
      if (!cur) {
        const other = await exists(() => registry.getParticipant(a, p.id));
        if (other) throw new ApiError(409, `${where} is enrolled in trial '${other.trialId}', not '${t.id}'`);
        if (p.consent.status === 'withdrawn' && !p.withdrawn)
          throw new ApiError(400, `${where}: consent 'withdrawn' needs withdrawn: {at, pastData}`);
        cur = await registry.createParticipant(a, {
          id: p.id,
          trialId: t.id,
          homeId: p.home,
          enrolledAt,
          consentStatus: p.consent.status === 'withdrawn' ? 'consented' : p.consent.status,
          ...consent,
        });
        report.created.push(where);
      } else {
        const want = {
          homeId: p.home,
          enrolledAt,
          ...consent,
          ...(p.consent.status !== 'withdrawn' && cur.withdrawnAt === null ? { consentStatus: p.consent.status } : {}),
        };
        const d = diff(cur, want);
        if (d) {
          cur = await registry.updateParticipant(a, p.id, d);
          report.updated.push(where);
        } else report.unchanged++;
      }
      if (p.withdrawn && cur.withdrawnAt === null) {
        await registry.withdrawParticipant(a, p.id, { at: ms(p.withdrawn.at, `${where}.withdrawn.at`), pastData: p.withdrawn.pastData });
        report.updated.push(`${where} (withdrawn)`);
      }
      if (p.absences?.length) {
        const have = await registry.listAbsences(a, { participantId: p.id, limit: 100_000 });
        for (const ab of p.absences) {
          const from = ms(ab.from, `${where}.absences.from`);
          const to = msOrNull(ab.to, `${where}.absences.to`);
          const label = `absence ${p.id} ${isoOf(from)} ${ab.reason}`;
          await step(
            label,
            have.find((x) => x.from === from && x.reason === ab.reason),
            () => registry.createAbsence(a, { participantId: p.id, from, to, reason: ab.reason }),
            async (c) => {
              if (c.to === to) return false;
              await registry.updateAbsence(a, c.id, { to });
              return true;
            },
          );
        }
      }
    }
  }

  for (const dv of file.devices ?? []) {
    const want = {
      kind: dv.kind,
      vendor: dv.vendor,
      model: dv.model,
      firmware: dv.firmware ?? null,
      zigbeeAddress: dv.zigbeeAddress ?? null,
      serial: dv.serial ?? null,
      orgId: dv.owner,
    };
    await step(
      `device ${dv.id}`,
      await exists(() => registry.getDevice(a, dv.id)),
      () => registry.createDevice(a, { id: dv.id, ...want }),
      async (cur) => {
        if (cur.kind !== dv.kind) throw new ApiError(409, `device ${dv.id} is a '${cur.kind}' in the registry, not '${dv.kind}'`);
        const { kind: _kind, ...rest } = want;
        const d = diff(cur, rest);
        if (!d) return false;
        await registry.updateDevice(a, dv.id, d);
        return true;
      },
    );
    if (!dv.assignments?.length) continue;
    const history = await registry.deviceHistory(a, dv.id);
    // Oldest first, so that an earlier span is closed before a later one is opened.
    const wanted = dv.assignments
      .map((x) => ({
        homeId: x.home,
        participantId: x.participant ?? null,
        from: ms(x.from, `device ${dv.id}.assignments.from`),
        to: msOrNull(x.to, `device ${dv.id}.assignments.to`),
      }))
      .sort((x, y) => x.from - y.from);
    for (const w of wanted) {
      const label = `assignment ${dv.id} → ${w.homeId} from ${isoOf(w.from)}`;
      const cur: Assignment | undefined = history.find((h) => h.homeId === w.homeId && h.from === w.from);
      await step(
        label,
        cur,
        () => registry.createAssignment(a, { deviceId: dv.id, ...w }),
        async (c) => {
          const d = diff(c, { to: w.to, participantId: w.participantId });
          if (!d) return false;
          await registry.updateAssignment(a, c.id, d);
          return true;
        },
      );
    }
  }
  return report;
}

/** The trial as a file: `apply` of the result changes nothing. */
export async function exportTrialFile(registry: Registry, a: Actor, trialId?: string): Promise<TrialFile> {
  if (!trialId) {
    const all = await registry.listTrials(a);
    if (all.length !== 1)
      throw new ApiError(
        400,
        all.length === 0
          ? 'there is no trial to export'
          : `several trials exist (${all.map((t) => t.id).join(', ')}): name one with --trial`,
      );
    trialId = all[0]!.id;
  }
  const trial = await registry.getTrial(a, trialId);
  const sites = await Promise.all(trial.siteIds.map((id) => registry.getSite(a, id)));
  const homes = (await registry.listHomes(a, { limit: 1_000_000 })).filter((h) => trial.siteIds.includes(h.siteId));
  const homeIds = new Set(homes.map((h) => h.id));
  const participants = await registry.listParticipants(a, { trialId, limit: 1_000_000 });
  const absences = await registry.listAbsences(a, { limit: 1_000_000 });
  const assignments = (await registry.listAssignments(a, { limit: 1_000_000 })).filter((x) => homeIds.has(x.homeId));
  const deviceIds = [...new Set(assignments.map((x) => x.deviceId))].sort();
  const devices = await Promise.all(deviceIds.map((id) => registry.getDevice(a, id)));
  const orgIds = [
    ...new Set([trial.orgId, ...sites.map((s) => s.orgId).filter((o): o is string => o !== null), ...devices.map((d) => d.orgId)]),
  ].sort();
  const organisations = await Promise.all(orgIds.map((id) => registry.getOrganisation(a, id)));
  const pIds = new Set(participants.map((p) => p.id));
  return {
    apiVersion: 'testbed/v1',
    kind: 'Trial',
    organisations: organisations.map((o) => ({ id: o.id, name: o.name, type: o.type })),
    sites: sites.map((s) => ({ id: s.id, org: s.orgId, name: s.name, facilities: s.facilities, description: s.description })),
    trial: {
      id: trial.id,
      org: trial.orgId,
      name: trial.name,
      phase: trial.phase,
      protocolVersion: trial.protocolVersion,
      start: isoOf(trial.startAt)!,
      end: isoOf(trial.endAt),
      sites: trial.siteIds,
    },
    homes: homes.map((h) => ({ id: h.id, site: h.siteId, label: h.label })),
    participants: participants.map((p) => ({
      id: p.id,
      home: p.homeId,
      enrolled: isoOf(p.enrolledAt)!,
      consent: { status: p.consentStatus, scope: p.consentScope, legalBasis: p.legalBasis },
      ...(p.withdrawnAt !== null ? { withdrawn: { at: isoOf(p.withdrawnAt)!, pastData: p.pastData ?? 'retain' } } : {}),
      ...(absences.some((x) => x.participantId === p.id)
        ? {
            absences: absences
              .filter((x) => x.participantId === p.id && pIds.has(p.id))
              .map((x) => ({ from: isoOf(x.from)!, to: isoOf(x.to), reason: x.reason })),
          }
        : {}),
    })),
    devices: devices.map((d) => ({
      id: d.id,
      kind: d.kind,
      vendor: d.vendor,
      model: d.model,
      firmware: d.firmware,
      zigbeeAddress: d.zigbeeAddress,
      serial: d.serial,
      owner: d.orgId,
      assignments: assignments
        .filter((x) => x.deviceId === d.id)
        .map((x) => ({ home: x.homeId, participant: x.participantId, from: isoOf(x.from)!, to: isoOf(x.to) })),
    })),
  };
}

export function trialFileToYaml(file: TrialFile): string {
  return `# testbed trial file — apply with: testbed trial apply <file>\n${stringifyYaml(file, { lineWidth: 0 })}`;
}
