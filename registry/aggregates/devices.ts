// Devices and their assignments to homes over time. A company registers and changes its own
// devices; coordinators place them in homes at their sites. A device is in one home at a time:
// the registry refuses an overlap with a message, the database refuses it too (migration 3).

import type { Static } from 'typebox';
import { DEVICE_ID_PATTERN, isKind, KIND_NAMES } from '../../devices/index.ts';
import { badRequest, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { type Actor, mustBeOwnOrg, mustBeSiteInScope, mustHaveRole, type Scope, scopeOf } from '../access.ts';
import { audit, checkInterval, iso, type RegistryContext, write } from '../context.ts';
import type { Param, Queryable } from '../db.ts';
import { newId } from '../ids.ts';
import { type ListOptions, page, where } from '../rows.ts';
import type { Assignment, AssignmentPatch, Device, DevicePatch, Move, NewAssignment, NewDevice } from '../schemas/index.ts';
import { assignments, devices, homes, organisations, participants } from '../tables.ts';

export async function createDevice(ctx: RegistryContext, a: Actor, body: Static<typeof NewDevice>): Promise<Device> {
  mustHaveRole(a, ['admin', 'company'], 'register devices');
  if (!DEVICE_ID_PATTERN.test(body.id))
    throw badRequest(
      `device id '${body.id}' is not valid: it is what the gateway reports as 'dev' (letters, digits and . _ : -, up to 128 characters)`,
    );
  if (!isKind(body.kind)) throw badRequest(`kind '${body.kind}' is not in the device catalogue (${KIND_NAMES.join(', ')})`);
  const orgId = body.orgId ?? (a.role === 'company' ? a.orgId : undefined);
  if (!orgId) throw badRequest('orgId: the owning company is required');
  mustBeOwnOrg(a, orgId, `device '${body.id}'`);
  return write(ctx, async (q) => {
    if (await devices.find(q, body.id)) throw conflict(`device '${body.id}' already exists`);
    await organisations.get(q, orgId, 'organisation', 400);
    if (body.zigbeeAddress && (await q.get('SELECT id FROM devices WHERE zigbee_address = ?', [body.zigbeeAddress])))
      throw conflict(`another device already has Zigbee address ${body.zigbeeAddress}`);
    const now = Date.now();
    const d: Device = {
      id: body.id,
      kind: body.kind,
      vendor: body.vendor,
      model: body.model,
      firmware: body.firmware ?? null,
      zigbeeAddress: body.zigbeeAddress ?? null,
      serial: body.serial ?? null,
      orgId,
      createdAt: now,
      updatedAt: now,
    };
    await devices.insert(q, d);
    await audit(q, a, 'create', 'device', d.id, { kind: d.kind, vendor: d.vendor, model: d.model, orgId });
    return d;
  });
}

export async function getDevice(ctx: RegistryContext, a: Actor, id: string): Promise<Device> {
  const d = await devices.get(ctx.db, id, 'device');
  if (a.role === 'company') mustBeOwnOrg(a, d.orgId, `device '${id}'`);
  return d;
}

export async function listDevices(
  ctx: RegistryContext,
  a: Actor,
  o: ListOptions & { orgId?: string | undefined; kind?: string | undefined },
): Promise<Device[]> {
  if (a.role === 'company' && o.orgId && o.orgId !== a.orgId) return [];
  const orgId = a.role === 'company' ? (a.orgId ?? '') : o.orgId;
  const rows = await devices.list(ctx.db, [
    ['org_id', orgId],
    ['kind', o.kind],
  ]);
  return page(rows, o);
}

export async function updateDevice(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof DevicePatch>): Promise<Device> {
  mustHaveRole(a, ['admin', 'company'], 'change devices');
  if (a.role !== 'admin' && patch.orgId !== undefined && patch.orgId !== a.orgId)
    throw forbidden('only an admin may hand a device to another organisation');
  return write(ctx, async (q) => {
    const cur = await devices.get(q, id, 'device');
    mustBeOwnOrg(a, cur.orgId, `device '${id}'`);
    if (patch.orgId) await organisations.get(q, patch.orgId, 'organisation', 400);
    if (patch.zigbeeAddress && (await q.get('SELECT id FROM devices WHERE zigbee_address = ? AND id <> ?', [patch.zigbeeAddress, id])))
      throw conflict(`another device already has Zigbee address ${patch.zigbeeAddress}`);
    const changed = await devices.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'device', id, { changed });
    return devices.get(q, id, 'device');
  });
}

// ── assignments ──

/** An assignment with what deciding its visibility needs: the home's site, the device's owner, the participant's consent. */
type AssignmentRow = Assignment & { site: string; owner: string; consent: string | null };

async function assignmentRows(q: Queryable, filters: [string, Param | undefined][]): Promise<AssignmentRow[]> {
  const w = where(filters);
  const rows = await q.all(
    'SELECT a.*, h.site_id AS x_site, d.org_id AS x_owner, p.consent_status AS x_consent FROM assignments a ' +
      'JOIN homes h ON h.id = a.home_id JOIN devices d ON d.id = a.device_id LEFT JOIN participants p ON p.id = a.participant_id' +
      `${w.sql} ORDER BY a.device_id, a.from_ts`,
    w.params,
  );
  return rows.map((r) => ({
    ...assignments.decode(r),
    site: String(r.x_site),
    owner: String(r.x_owner),
    consent: r.x_consent === null ? null : String(r.x_consent),
  }));
}

/** The assignment as this actor may see it (participant hidden from companies, and from researchers unless consented); null: hidden. */
function assignmentView(s: Scope, r: AssignmentRow): Assignment | null {
  const { site, owner, consent, ...a } = r;
  switch (s.actor.role) {
    case 'admin':
      return a;
    case 'coordinator':
      return s.sites!.has(site) ? a : null;
    case 'company':
      return owner === s.actor.orgId ? { ...a, participantId: null } : null;
    case 'researcher':
      return consent === 'consented' ? a : { ...a, participantId: null };
  }
}

async function checkNoOverlap(q: Queryable, deviceId: string, from: number, to: number | null, exceptId?: string): Promise<void> {
  for (const o of await assignments.list(q, [['device_id', deviceId]], 'from_ts')) {
    if (o.id === exceptId) continue;
    if (o.from < (to ?? Infinity) && from < (o.to ?? Infinity)) {
      throw conflict(
        `device '${deviceId}' is already assigned to home '${o.homeId}' from ${iso(o.from)} to ${iso(o.to)} (assignment ${o.id}); ` +
          `a device is in one home at a time — end that assignment first (or use POST /devices/${deviceId}/move)`,
      );
    }
  }
}

/**
 * The home is in the actor's scope, and the participant (if named) lives there and had not withdrawn
 * by `from`: a withdrawal is final, so nothing new is attributed to them after it (history from
 * before the withdrawal may still be recorded).
 */
async function checkTarget(
  q: Queryable,
  s: Scope,
  target: { homeId: string; participantId: string | null | undefined; from: number },
  what: string,
): Promise<void> {
  const { homeId, participantId, from } = target;
  const home = await homes.get(q, homeId, 'home', 400);
  mustBeSiteInScope(s, home.siteId, what);
  if (participantId) {
    const p = await participants.get(q, participantId, 'participant', 400);
    if (p.homeId !== homeId) throw badRequest(`${what}: participant '${participantId}' lives in home '${p.homeId}', not '${homeId}'`);
    if (p.withdrawnAt !== null && from >= p.withdrawnAt)
      throw conflict(`${what}: participant '${participantId}' withdrew on ${iso(p.withdrawnAt)}; nothing is assigned to them after that`);
  }
}

async function insertAssignment(q: Queryable, a: Actor, body: Static<typeof NewAssignment>): Promise<Assignment> {
  const now = Date.now();
  const asg: Assignment = {
    id: newId('asg'),
    deviceId: body.deviceId,
    homeId: body.homeId,
    participantId: body.participantId ?? null,
    from: body.from,
    to: body.to ?? null,
    createdAt: now,
    updatedAt: now,
  };
  await checkNoOverlap(q, asg.deviceId, asg.from, asg.to);
  await assignments.insert(q, asg);
  const { deviceId, homeId, participantId, from, to } = asg;
  await audit(q, a, 'create', 'assignment', asg.id, { deviceId, homeId, participantId, from, to });
  return asg;
}

export async function createAssignment(ctx: RegistryContext, a: Actor, body: Static<typeof NewAssignment>): Promise<Assignment> {
  mustHaveRole(a, ['admin', 'coordinator'], 'assign devices to homes');
  checkInterval('assignment', body.from, body.to);
  return write(ctx, async (q) => {
    await devices.get(q, body.deviceId, 'device', 400);
    await checkTarget(q, await scopeOf(q, a), { homeId: body.homeId, participantId: body.participantId, from: body.from }, 'assignment');
    return insertAssignment(q, a, body);
  });
}

export async function getAssignment(ctx: RegistryContext, a: Actor, id: string): Promise<Assignment> {
  const [row] = await assignmentRows(ctx.db, [['a.id', id]]);
  if (!row) throw notFound(`assignment '${id}' does not exist`);
  const view = assignmentView(await scopeOf(ctx.db, a), row);
  if (!view) throw forbidden(`assignment '${id}' is outside what you may see`);
  return view;
}

export async function listAssignments(
  ctx: RegistryContext,
  a: Actor,
  o: ListOptions & { deviceId?: string | undefined; homeId?: string | undefined },
): Promise<Assignment[]> {
  const s = await scopeOf(ctx.db, a);
  const rows = await assignmentRows(ctx.db, [
    ['a.device_id', o.deviceId],
    ['a.home_id', o.homeId],
  ]);
  return page(
    rows.map((r) => assignmentView(s, r)).filter((x): x is Assignment => x !== null),
    o,
  );
}

export async function updateAssignment(
  ctx: RegistryContext,
  a: Actor,
  id: string,
  patch: Static<typeof AssignmentPatch>,
): Promise<Assignment> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change assignments');
  return write(ctx, async (q) => {
    const cur = await assignments.get(q, id, 'assignment');
    const from = patch.from ?? cur.from;
    // The participant is checked when the patch names one or moves the start; ending an assignment is always possible.
    const participantId = patch.participantId !== undefined ? patch.participantId : patch.from !== undefined ? cur.participantId : null;
    await checkTarget(q, await scopeOf(q, a), { homeId: cur.homeId, participantId, from }, `assignment '${id}'`);
    const to = patch.to === undefined ? cur.to : patch.to;
    checkInterval(`assignment '${id}'`, from, to);
    await checkNoOverlap(q, cur.deviceId, from, to, id);
    const changed = await assignments.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'assignment', id, { changed });
    return assignments.get(q, id, 'assignment');
  });
}

export async function moveDevice(ctx: RegistryContext, a: Actor, deviceId: string, body: Static<typeof Move>): Promise<Assignment> {
  mustHaveRole(a, ['admin', 'coordinator'], 'move devices');
  return write(ctx, async (q) => {
    await devices.get(q, deviceId, 'device');
    const s = await scopeOf(q, a);
    await checkTarget(q, s, { homeId: body.homeId, participantId: body.participantId, from: body.at }, `move of device '${deviceId}'`);
    const open = await q.get('SELECT * FROM assignments WHERE device_id = ? AND to_ts IS NULL', [deviceId]);
    if (open) {
      const cur = assignments.decode(open);
      const [row] = await assignmentRows(q, [['a.id', cur.id]]);
      if (!assignmentView(s, row!)) throw forbidden(`device '${deviceId}' is now in a home outside your organisation's trials`);
      if (body.at <= cur.from)
        throw badRequest(`at: the move (${iso(body.at)}) must be after the current assignment started (${iso(cur.from)})`);
      await q.run('UPDATE assignments SET to_ts = ?, updated_at = ? WHERE id = ?', [body.at, Date.now(), cur.id]);
      await audit(q, a, 'update', 'assignment', cur.id, { changed: { to: [null, body.at] }, reason: 'move' });
    }
    return insertAssignment(q, a, { deviceId, homeId: body.homeId, participantId: body.participantId ?? null, from: body.at });
  });
}
