// Participants and their absences. Every read of participant data is audited, in the same
// transaction as the read. Researchers see consented, not withdrawn participants only; companies none.
//
// Consent changes and withdrawals are serialised per participant: each reads the row locked
// (lockedParticipant) and decides on what it read, so a PATCH that started before a withdrawal
// either commits before it or sees it and is refused. A withdrawal always wins: there is no way
// back from it (migration 4 refuses one in the database too).

import type { Static } from 'typebox';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { type Actor, mustBeSiteInScope, mustBeTrialInScope, mustHaveRole, type Scope, scopeOf } from '../access.ts';
import { audit, auditAccess, checkInterval, iso, type RegistryContext, write } from '../context.ts';
import { forUpdate, type Queryable } from '../db.ts';
import { newId, newPseudonym, PSEUDONYM_PATTERN } from '../ids.ts';
import { type ListOptions, page, where } from '../rows.ts';
import type {
  Absence,
  AbsencePatch,
  NewAbsence,
  NewParticipant,
  Participant,
  ParticipantPatch,
  Role,
  Withdrawal,
} from '../schemas/index.ts';
import { absences, homes, participants } from '../tables.ts';
import { findTrial } from './trials.ts';

const READERS: readonly Role[] = ['admin', 'coordinator', 'researcher'];

/** A participant lives in a home at one of their trial's sites, within the actor's scope. */
async function checkPlace(q: Queryable, s: Scope, trialId: string, homeId: string, what: string): Promise<void> {
  const trial = await findTrial(q, trialId);
  if (!trial) throw badRequest(`trial '${trialId}' does not exist`);
  mustBeTrialInScope(s, trialId, what);
  const home = await homes.get(q, homeId, 'home', 400);
  mustBeSiteInScope(s, home.siteId, what);
  if (!trial.siteIds.includes(home.siteId))
    throw badRequest(
      `${what}: home '${homeId}' is at site '${home.siteId}', ` +
        `which is not one of trial '${trialId}''s sites (${trial.siteIds.join(', ') || 'none'})`,
    );
}

/**
 * The participant, read with a row lock held until the transaction ends (db.ts forUpdate): the
 * read of a read-modify-write of consent or withdrawal, so two of them cannot both act on the same
 * old row.
 */
async function lockedParticipant(q: Queryable, id: string): Promise<Participant> {
  const row = await q.get(`SELECT * FROM participants WHERE id = ?${forUpdate(q)}`, [id]);
  if (!row) throw notFound(`participant '${id}' does not exist`);
  return participants.decode(row);
}

function isVisible(s: Scope, p: { trialId: string; consentStatus: string; withdrawnAt: number | null }): boolean {
  // Withdrawn hides them even were the status ever to say otherwise: the timestamp is what ingest acts on.
  if (s.actor.role === 'researcher') return p.consentStatus === 'consented' && p.withdrawnAt === null;
  if (s.trials) return s.trials.has(p.trialId);
  return true;
}

/**
 * What a participant the actor may not see is refused with: for a researcher the same error as for
 * an id that does not exist (`status`, 404 by default), so a pseudonym's existence and consent
 * state do not leak; for a coordinator outside their trials, 403.
 */
function hidden(a: Actor, id: string, status = 404): ApiError {
  return a.role === 'researcher'
    ? new ApiError(status, `participant '${id}' does not exist`)
    : forbidden(`participant '${id}' is not in your organisation's trials`);
}

/** The participant, when the actor may see them; ApiError `status` when absent (or hidden from a researcher), 403 when hidden. */
async function visibleParticipant(q: Queryable, a: Actor, participantId: string, status = 404): Promise<Participant> {
  const p = await participants.get(q, participantId, 'participant', status);
  if (!isVisible(await scopeOf(q, a), p)) throw hidden(a, participantId, status);
  return p;
}

export async function createParticipant(ctx: RegistryContext, a: Actor, body: Static<typeof NewParticipant>): Promise<Participant> {
  mustHaveRole(a, ['admin', 'coordinator'], 'enrol participants');
  if (body.id !== undefined && !PSEUDONYM_PATTERN.test(body.id))
    throw badRequest(
      `participant id '${body.id}' is not a pseudonym: expected P- and six characters of 0-9 A-Z without I, L, O, U (e.g. P-7K3Q9X)`,
    );
  if (body.consentStatus === 'withdrawn')
    throw badRequest(
      'consentStatus: a participant is enrolled as pending, consented or declined; use POST /participants/{id}/withdraw to withdraw',
    );
  return write(ctx, async (q) => {
    const s = await scopeOf(q, a);
    await checkPlace(q, s, body.trialId, body.homeId, 'participant');
    let id = body.id;
    if (id && (await participants.find(q, id))) throw conflict(`participant '${id}' already exists`);
    while (!id || (await participants.find(q, id))) id = newPseudonym();
    const now = Date.now();
    const p: Participant = {
      id,
      trialId: body.trialId,
      homeId: body.homeId,
      enrolledAt: body.enrolledAt,
      withdrawnAt: null,
      consentStatus: body.consentStatus,
      consentScope: body.consentScope ?? [],
      legalBasis: body.legalBasis,
      pastData: null,
      createdAt: now,
      updatedAt: now,
    };
    await participants.insert(q, p);
    const { trialId, homeId, consentStatus, consentScope, legalBasis } = p;
    await audit(q, a, 'create', 'participant', id, { trialId, homeId, consentStatus, consentScope, legalBasis });
    return p;
  });
}

export async function getParticipant(ctx: RegistryContext, a: Actor, id: string): Promise<Participant> {
  mustHaveRole(a, READERS, 'read participant data');
  return ctx.db.tx(async (q) => {
    const p = await participants.get(q, id, 'participant');
    if (!isVisible(await scopeOf(q, a), p)) throw hidden(a, id);
    await auditAccess(q, a, 'read', 'participant', id);
    return p;
  });
}

export async function listParticipants(
  ctx: RegistryContext,
  a: Actor,
  o: ListOptions & { trialId?: string | undefined; homeId?: string | undefined },
): Promise<Participant[]> {
  mustHaveRole(a, READERS, 'read participant data');
  return ctx.db.tx(async (q) => {
    const s = await scopeOf(q, a);
    const rows = await participants.list(q, [
      ['trial_id', o.trialId],
      ['home_id', o.homeId],
    ]);
    const items = page(
      rows.filter((p) => isVisible(s, p)),
      o,
    );
    await auditAccess(q, a, 'read', 'participant', null, { filter: { trialId: o.trialId, homeId: o.homeId }, ids: items.map((p) => p.id) });
    return items;
  });
}

export async function updateParticipant(
  ctx: RegistryContext,
  a: Actor,
  id: string,
  patch: Static<typeof ParticipantPatch>,
): Promise<Participant> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change participants');
  return write(ctx, async (q) => {
    const cur = await lockedParticipant(q, id);
    const s = await scopeOf(q, a);
    mustBeTrialInScope(s, cur.trialId, `participant '${id}'`);
    if (cur.withdrawnAt !== null && patch.consentStatus !== undefined && patch.consentStatus !== 'withdrawn')
      throw conflict(
        `participant '${id}' withdrew on ${iso(cur.withdrawnAt)}; consent cannot be changed afterwards ` +
          '(there is no re-consent: to take part again they enrol again with a new pseudonym, POST /participants)',
      );
    if (cur.withdrawnAt !== null && patch.enrolledAt !== undefined && patch.enrolledAt > cur.withdrawnAt)
      throw badRequest(`enrolledAt: ${iso(patch.enrolledAt)} is after the withdrawal (${iso(cur.withdrawnAt)})`);
    if (cur.withdrawnAt === null && patch.consentStatus === 'withdrawn')
      throw badRequest(`consentStatus: use POST /participants/${id}/withdraw to withdraw`);
    if (patch.homeId && patch.homeId !== cur.homeId) await checkPlace(q, s, cur.trialId, patch.homeId, `participant '${id}'`);
    const changed = await participants.update(q, cur, patch, Date.now());
    const action = changed.consentStatus || changed.consentScope || changed.legalBasis ? 'consent-change' : 'update';
    if (Object.keys(changed).length) await audit(q, a, action, 'participant', id, { changed });
    return participants.get(q, id, 'participant');
  });
}

export async function withdrawParticipant(
  ctx: RegistryContext,
  a: Actor,
  id: string,
  body: Static<typeof Withdrawal>,
): Promise<Participant> {
  mustHaveRole(a, ['admin', 'coordinator'], 'withdraw participants');
  return write(ctx, async (q) => {
    const cur = await lockedParticipant(q, id);
    mustBeTrialInScope(await scopeOf(q, a), cur.trialId, `participant '${id}'`);
    if (cur.withdrawnAt !== null) throw conflict(`participant '${id}' already withdrew on ${iso(cur.withdrawnAt)}`);
    const at = body.at ?? Date.now();
    if (at < cur.enrolledAt) throw badRequest(`at: withdrawal (${iso(at)}) cannot be before enrolment (${iso(cur.enrolledAt)})`);
    await q.run("UPDATE participants SET withdrawn_at = ?, consent_status = 'withdrawn', past_data = ?, updated_at = ? WHERE id = ?", [
      at,
      body.pastData,
      Date.now(),
      id,
    ]);
    await audit(q, a, 'withdraw', 'participant', id, { at, pastData: body.pastData, previousConsent: cur.consentStatus });
    return participants.get(q, id, 'participant');
  });
}

export async function createAbsence(ctx: RegistryContext, a: Actor, body: Static<typeof NewAbsence>): Promise<Absence> {
  mustHaveRole(a, ['admin', 'coordinator'], 'record absences');
  checkInterval('absence', body.from, body.to);
  return write(ctx, async (q) => {
    await visibleParticipant(q, a, body.participantId, 400);
    const now = Date.now();
    const ab: Absence = {
      id: newId('abs'),
      participantId: body.participantId,
      from: body.from,
      to: body.to ?? null,
      reason: body.reason,
      createdAt: now,
      updatedAt: now,
    };
    await absences.insert(q, ab);
    await audit(q, a, 'create', 'absence', ab.id, { participantId: ab.participantId, from: ab.from, to: ab.to, reason: ab.reason });
    return ab;
  });
}

export async function getAbsence(ctx: RegistryContext, a: Actor, id: string): Promise<Absence> {
  mustHaveRole(a, READERS, 'read participant data');
  return ctx.db.tx(async (q) => {
    const ab = await absences.get(q, id, 'absence');
    const p = await participants.get(q, ab.participantId, 'participant');
    // A researcher learns neither that the absence exists nor whose it is.
    if (!isVisible(await scopeOf(q, a), p))
      throw a.role === 'researcher' ? notFound(`absence '${id}' does not exist`) : hidden(a, ab.participantId);
    await auditAccess(q, a, 'read', 'absence', id, { participantId: ab.participantId });
    return ab;
  });
}

export async function listAbsences(
  ctx: RegistryContext,
  a: Actor,
  o: ListOptions & { participantId?: string | undefined },
): Promise<Absence[]> {
  mustHaveRole(a, READERS, 'read participant data');
  return ctx.db.tx(async (q) => {
    const s = await scopeOf(q, a);
    const w = where([['a.participant_id', o.participantId]]);
    const rows = await q.all(
      'SELECT a.*, p.trial_id AS p_trial, p.consent_status AS p_consent, p.withdrawn_at AS p_withdrawn ' +
        `FROM absences a JOIN participants p ON p.id = a.participant_id${w.sql} ORDER BY a.from_ts, a.id`,
      w.params,
    );
    const visible = rows.filter((r) =>
      isVisible(s, {
        trialId: String(r.p_trial),
        consentStatus: String(r.p_consent),
        withdrawnAt: r.p_withdrawn === null ? null : Number(r.p_withdrawn),
      }),
    );
    const items = page(
      visible.map((r) => absences.decode(r)),
      o,
    );
    await auditAccess(q, a, 'read', 'absence', null, { filter: { participantId: o.participantId }, ids: items.map((x) => x.id) });
    return items;
  });
}

export async function updateAbsence(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof AbsencePatch>): Promise<Absence> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change absences');
  return write(ctx, async (q) => {
    const cur = await absences.get(q, id, 'absence');
    await visibleParticipant(q, a, cur.participantId);
    checkInterval(`absence '${id}'`, patch.from ?? cur.from, patch.to === undefined ? cur.to : patch.to);
    const changed = await absences.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'absence', id, { changed });
    return absences.get(q, id, 'absence');
  });
}
