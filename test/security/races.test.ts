// Issue 11, class 7 (docs/security.md): races between consent changes and withdrawals. Many
// concurrent PATCH consent and POST withdraw requests, through the API of two orchestrators and
// directly through two Registry instances on the same database (two processes' worth of
// connections), on SQLite and on the run's PostgreSQL cluster. Whatever the interleaving, the
// participant ends withdrawn, researchers cannot see them, the audit log replays to the stored
// state, and the attribution cache stops tagging readings with them from the withdrawal on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attribution, cliActor, openRegistry, type Actor, type Registry } from '../../registry/index.ts';
import { type Api, apiFor, DATABASES, DAY, type FreshDb, freshDatabase, T0, tokenFor } from '../support/registry.ts';
import { waitFor } from '../support/servers.ts';

/** Participants raced per test, and PATCH requests per participant (around one withdrawal). */
const PARTICIPANTS = 6;
const PATCHES = 16;

const CONSENT_ACTIONS = new Set(['create', 'update', 'consent-change', 'withdraw']);

for (const kind of DATABASES) {
  describe(`races on ${kind}: a withdrawal always wins`, () => {
    let db: FreshDb;
    let r1: Registry;
    let r2: Registry;
    let api1: Api;
    let api2: Api;
    let coordinator: string;
    let researcher: string;
    let coordinatorActor: Actor;
    let seq = 0;

    beforeAll(async () => {
      db = await freshDatabase(kind);
      const opts = { databaseUrl: db.databaseUrl, dataDir: db.dataDir };
      r1 = await openRegistry(opts);
      r2 = await openRegistry(opts);
      api1 = await apiFor(r1);
      api2 = await apiFor(r2);
      const admin = cliActor();
      await r1.createOrganisation(admin, { id: 'region-a', name: 'Region A', type: 'region' });
      await r1.createOrganisation(admin, { id: 'acme', name: 'Acme Sensors AB', type: 'company' });
      await r1.createSite(admin, { id: 'site-a', orgId: 'region-a', name: 'Living lab A', facilities: ['apartments'] });
      await r1.createTrial(admin, {
        id: 'trial-a',
        orgId: 'region-a',
        name: 'Hydration A',
        phase: 'micro-trial',
        protocolVersion: '1.0',
        startAt: T0,
        siteIds: ['site-a'],
      });
      const c = await tokenFor(r1, 'coordinator', 'region-a');
      coordinator = c.token;
      coordinatorActor = { id: c.userId, role: 'coordinator', orgId: 'region-a', tokenId: null };
      researcher = (await tokenFor(r1, 'researcher')).token;
    });
    afterAll(async () => {
      await Promise.all([api1?.app.close(), api2?.app.close()]);
      await Promise.all([r1?.db.close(), r2?.db.close()]);
      await db?.drop();
    });

    /** A consented participant alone in a new home, with a cup assigned there. */
    async function enrol(): Promise<{ id: string; device: string }> {
      const n = ++seq;
      const a = cliActor();
      await r1.createHome(a, { id: `home-${n}`, siteId: 'site-a' });
      const p = await r1.createParticipant(a, {
        trialId: 'trial-a',
        homeId: `home-${n}`,
        enrolledAt: T0,
        consentStatus: 'consented',
        consentScope: ['hydration'],
        legalBasis: 'consent',
      });
      await r1.createDevice(a, { id: `cup-${n}`, kind: 'hydration', vendor: 'Acme', model: 'SmartCup', orgId: 'acme' });
      await r1.createAssignment(a, { deviceId: `cup-${n}`, homeId: `home-${n}`, from: T0 });
      return { id: p.id, device: `cup-${n}` };
    }

    /** PATCH i of a participant: flips consent back and forth, and its scope with it. */
    const patchBody = (i: number) => ({
      consentStatus: i % 2 === 0 ? ('pending' as const) : ('consented' as const),
      consentScope: i % 3 === 0 ? ['hydration'] : ['hydration', 'motion'],
    });

    /** What a user depends on after the race: withdrawn for good, hidden, and an audit log that replays to the row. */
    async function expectWithdrawnForGood(id: string, at: number): Promise<void> {
      const row = await r2.db.get<{ consent_status: string; withdrawn_at: number | null }>(
        'SELECT consent_status, withdrawn_at FROM participants WHERE id = ?',
        [id],
      );
      expect(row, id).toEqual({ consent_status: 'withdrawn', withdrawn_at: at });
      for (const api of [api1, api2]) {
        const list = await api.call('GET', 'participants?trialId=trial-a', researcher);
        expect(list.status).toBe(200);
        expect(list.body.map((p: { id: string }) => p.id)).not.toContain(id);
        // Hidden as if it did not exist: 404, not a 403 that would confirm the pseudonym.
        expect((await api.call('GET', `participants/${id}`, researcher)).status).toBe(404);
      }
      // Every change in the order it was committed: each consent change starts from the state the
      // one before left, one withdrawal, and nothing after it touches consent.
      const entries = (await r1.listAudit(cliActor(), { resourceType: 'participant', resourceId: id, limit: 100_000 })).filter((e) =>
        CONSENT_ACTIONS.has(e.action),
      );
      expect(entries[0]?.action).toBe('create');
      let state = String(entries[0]!.details.consentStatus);
      let withdrawals = 0;
      for (const e of entries.slice(1)) {
        if (e.action === 'withdraw') {
          withdrawals++;
          expect(e.details.previousConsent, `audit ${e.id}`).toBe(state);
          expect(e.details.at).toBe(at);
          state = 'withdrawn';
          continue;
        }
        const change = (e.details.changed as Record<string, [unknown, unknown]>).consentStatus;
        if (!change) continue;
        expect(state, `audit ${e.id}: a consent change after the withdrawal`).not.toBe('withdrawn');
        expect(change[0], `audit ${e.id} starts from a state the log does not have`).toBe(state);
        state = String(change[1]);
      }
      expect(withdrawals).toBe(1);
      expect(state).toBe('withdrawn');
    }

    it('concurrent PATCH consent and withdraw through the API of two orchestrators', async () => {
      const people = await Promise.all(Array.from({ length: PARTICIPANTS }, () => enrol()));
      const at = T0 + 10 * DAY;
      // Started in rounds, each participant's withdrawal in the middle of their PATCH requests.
      type Outcome = { id: string; kind: 'patch' | 'withdraw'; status: number; body: { message?: string } };
      const calls: Promise<Outcome>[] = [];
      for (let i = 0; i < PATCHES; i++) {
        for (const { id } of people) {
          if (i === PATCHES / 2)
            calls.push(
              api1
                .call('POST', `participants/${id}/withdraw`, coordinator, { at, pastData: 'retain' })
                .then((r) => ({ id, kind: 'withdraw', ...r })),
            );
          calls.push(
            (i % 2 ? api1 : api2).call('PATCH', `participants/${id}`, coordinator, patchBody(i)).then((r) => ({ id, kind: 'patch', ...r })),
          );
        }
      }
      const results = await Promise.all(calls);
      for (const r of results) {
        if (r.kind === 'withdraw') expect(r.status, JSON.stringify(r.body)).toBe(200);
        else expect([200, 409], JSON.stringify(r.body)).toContain(r.status);
        if (r.status === 409) expect(r.body.message).toMatch(/withdrew on .*enrol again with a new pseudonym/);
      }
      for (const { id } of people) await expectWithdrawnForGood(id, at);
      // And afterwards, for anyone asking again: refused, with how to re-enrol.
      const again = await api2.call('PATCH', `participants/${people[0]!.id}`, coordinator, { consentStatus: 'consented' });
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/enrol again with a new pseudonym/);
    });

    it('concurrent consent changes and withdrawals through two Registry instances on one database', async () => {
      const people = await Promise.all(Array.from({ length: PARTICIPANTS }, () => enrol()));
      const at = T0 + 12 * DAY;
      const outcomes = await Promise.allSettled(
        people.flatMap(({ id }) => [
          ...Array.from({ length: PATCHES / 2 }, (_, i) => r1.updateParticipant(coordinatorActor, id, patchBody(i))),
          r2.withdrawParticipant(coordinatorActor, id, { at, pastData: 'exclude' }),
          ...Array.from({ length: PATCHES / 2 }, (_, i) => r2.updateParticipant(coordinatorActor, id, patchBody(i + 1))),
          // A second withdrawal racing the first: exactly one of them wins, the other is a 409.
          r1.withdrawParticipant(coordinatorActor, id, { at, pastData: 'exclude' }),
        ]),
      );
      for (const o of outcomes)
        if (o.status === 'rejected') expect((o.reason as { statusCode?: number }).statusCode, String(o.reason)).toBe(409);
      for (const { id } of people) await expectWithdrawnForGood(id, at);
    });

    it('two withdrawals at different times: one wins whole, the other is refused', async () => {
      const { id } = await enrol();
      const [a, b] = await Promise.allSettled([
        r1.withdrawParticipant(coordinatorActor, id, { at: T0 + 5 * DAY, pastData: 'retain' }),
        r2.withdrawParticipant(coordinatorActor, id, { at: T0 + 20 * DAY, pastData: 'exclude' }),
      ]);
      const won = [a, b].filter((o) => o.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = [a, b].find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason.statusCode).toBe(409);
      const winner = (won[0] as PromiseFulfilledResult<{ withdrawnAt: number; pastData: string }>).value;
      const stored = await r2.getParticipant(cliActor(), id);
      expect(stored).toMatchObject({ withdrawnAt: winner.withdrawnAt, pastData: winner.pastData, consentStatus: 'withdrawn' });
      await expectWithdrawnForGood(id, winner.withdrawnAt);
    });

    it('the database refuses any writer that would undo a withdrawal (migration 4)', async () => {
      const { id } = await enrol();
      await r1.withdrawParticipant(coordinatorActor, id, { at: T0 + DAY, pastData: 'retain' });
      for (const [sql, params] of [
        ["UPDATE participants SET consent_status = 'consented' WHERE id = ?", [id]],
        ['UPDATE participants SET withdrawn_at = NULL WHERE id = ?', [id]],
        ['UPDATE participants SET withdrawn_at = ? WHERE id = ?', [T0 + 2 * DAY, id]],
      ] as const)
        await expect(r2.db.run(sql, [...params]), sql).rejects.toMatchObject({ kind: 'refused', message: /a withdrawal is final/ });
      // What stays allowed: other fields of a withdrawn participant (their home, their scope as recorded).
      expect(await r2.db.run("UPDATE participants SET consent_scope = '[]' WHERE id = ?", [id])).toBe(1);
      await expectWithdrawnForGood(id, T0 + DAY);
    });

    it('attribution stops at the withdrawal: at once in the withdrawing process, within a poll in another', async () => {
      const here = await new Attribution(r1.db).start(60_000);
      const there = await new Attribution(r2.db).start(100);
      r1.hooks.changed = () => here.refresh();
      try {
        const { id, device } = await enrol();
        await here.refresh();
        await waitFor('the other process to see the enrolment', async () => there.lookup(device, T0 + DAY)?.participant === id, 5000);
        const at = T0 + 15 * DAY;
        // Settled as they go (a refused PATCH is an expected outcome, not an unhandled rejection).
        const racing = Array.from({ length: PATCHES }, (_, i) =>
          (i % 2 ? r1 : r2).updateParticipant(coordinatorActor, id, patchBody(i)).then(
            () => 200,
            (err: { statusCode?: number }) => err.statusCode,
          ),
        );
        await r1.withdrawParticipant(coordinatorActor, id, { at, pastData: 'retain' });
        // The withdrawal's answer comes after this process's cache reloaded: no reading from `at` on is theirs.
        expect(here.lookup(device, at)).toEqual({ home: expect.any(String) });
        expect(here.lookup(device, at - 1)).toEqual({ home: expect.any(String), participant: id });
        for (const status of await Promise.all(racing)) expect([200, 409]).toContain(status);
        await here.refresh();
        expect(here.lookup(device, at + DAY)?.participant).toBeUndefined();
        await waitFor('the other process to stop attributing', async () => there.lookup(device, at)?.participant === undefined, 5000);
        expect(there.lookup(device, at - 1)?.participant).toBe(id);
      } finally {
        r1.hooks.changed = undefined;
        here.stop();
        there.stop();
      }
    });
  });
}
