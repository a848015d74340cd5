// Red team finding 6 (docs/security.md, "Who sees what"): a researcher's 403 ("participant
// 'P-…' has not consented") confirmed that a pseudonym exists and has not consented. To a
// researcher, a participant they may not see (pending, declined, withdrawn) and their absences
// answer exactly as an id that does not exist: 404, the same message. A coordinator outside the
// participant's trials still gets 403. Real registry (SQLite) and HTTP app (test/support/monitor-world.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliActor } from '../../registry/index.ts';
import { monitorWorld, T0, type World } from '../support/monitor-world.ts';

const DAY = 86_400_000;
const UNKNOWN = 'P-ZZZZZZ';
let w: World;
const hidden: Record<'pending' | 'withdrawn', { id: string; absence: string }> = {} as never;
let visibleAbsence = '';

beforeAll(async () => {
  w = await monitorWorld('sqlite');
  const a = cliActor();
  for (const kind of ['pending', 'withdrawn'] as const) {
    const p = await w.registry.createParticipant(a, {
      trialId: 'trial-site-a',
      homeId: 'home-site-a',
      enrolledAt: T0 - 30 * DAY,
      consentStatus: kind === 'pending' ? 'pending' : 'consented',
      legalBasis: 'consent',
    });
    const ab = await w.registry.createAbsence(a, { participantId: p.id, from: T0 - 20 * DAY, to: T0 - 19 * DAY, reason: 'hospital-stay' });
    if (kind === 'withdrawn') await w.registry.withdrawParticipant(a, p.id, { at: T0 - 5 * DAY, pastData: 'exclude' });
    hidden[kind] = { id: p.id, absence: ab.id };
  }
  visibleAbsence = (
    await w.registry.createAbsence(a, { participantId: w.participantA, from: T0 - 20 * DAY, to: T0 - 19 * DAY, reason: 'hospital-stay' })
  ).id;
});
afterAll(async () => {
  await w?.close();
});

describe('a researcher cannot tell a hidden participant from one that does not exist', () => {
  it.each(['pending', 'withdrawn'] as const)(
    'GET /participants/{id} of a %s participant: 404 as for an unknown pseudonym',
    async (kind) => {
      const id = hidden[kind].id;
      const got = await w.call('researcher', 'GET', `participants/${id}`);
      const unknown = await w.call('researcher', 'GET', `participants/${UNKNOWN}`);
      expect(unknown.status).toBe(404);
      expect(got.status).toBe(404);
      expect(got.body).toEqual({ ...unknown.body, message: unknown.body.message.replace(UNKNOWN, id) });
      expect(got.text).not.toMatch(/consent/);
    },
  );

  it.each(['pending', 'withdrawn'] as const)('their absences: 404 as for an unknown absence, and absent from lists', async (kind) => {
    const { id, absence } = hidden[kind];
    const got = await w.call('researcher', 'GET', `absences/${absence}`);
    const unknown = await w.call('researcher', 'GET', 'absences/abs-zzzzzzzzzz');
    expect(got.status).toBe(404);
    expect(got.body).toEqual({ ...unknown.body, message: unknown.body.message.replace('abs-zzzzzzzzzz', absence) });
    const listed = await w.call('researcher', 'GET', `absences?participantId=${id}`);
    expect(listed).toMatchObject({ status: 200, body: [] });
    expect((await w.call('researcher', 'GET', `absences?participantId=${UNKNOWN}`)).body).toEqual([]);
  });

  it('still sees a consented participant and their absence', async () => {
    expect((await w.call('researcher', 'GET', `participants/${w.participantA}`)).status).toBe(200);
    expect((await w.call('researcher', 'GET', `absences/${visibleAbsence}`)).status).toBe(200);
  });

  it("a coordinator of another organisation still gets 403 (they may know the trial's participants exist)", async () => {
    expect((await w.call('coordB', 'GET', `participants/${hidden.pending.id}`)).status).toBe(403);
    expect((await w.call('coordB', 'GET', `absences/${hidden.pending.absence}`)).status).toBe(403);
  });
});
