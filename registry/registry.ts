// The trial registry: organisations, sites, trials, homes, pseudonymous participants, absences,
// devices, device→home assignments over time, gateways with their MQTT credentials, users with API
// tokens, and an append-only audit log. This class is the one door: each aggregate lives in its
// own module (aggregates/), and every method takes the Actor it acts for; the aggregate enforces
// the role rules itself (the HTTP layer checks the role too, but this is where the line is held):
//
//   admin        everything
//   coordinator  their organisation's trials and the sites of those trials (plus sites their
//                organisation owns): homes, participants, absences, assignments, gateways there
//   company      their organisation's devices and gateways, never participant data
//   researcher   read-only; participants (pseudonyms) only when consented
//
// Every write, and every read of participant data, appends to the audit log in the same
// transaction as the change: a failed write leaves neither change nor audit entry.

import type { Static } from 'typebox';
import { type Actor, scopeOf } from './access.ts';
import * as audit from './aggregates/audit.ts';
import * as devices from './aggregates/devices.ts';
import * as gateways from './aggregates/gateways.ts';
import * as homes from './aggregates/homes.ts';
import * as orgs from './aggregates/organisations.ts';
import * as participants from './aggregates/participants.ts';
import * as trials from './aggregates/trials.ts';
import * as users from './aggregates/users.ts';
import type { RegistryContext, RegistryHooks } from './context.ts';
import type { GatewayCredential } from '../broker/index.ts';
import type { Database } from './db.ts';
import type { ListOptions } from './rows.ts';
import type * as S from './schemas/index.ts';
import { organisations, sites } from './tables.ts';

export type { Actor } from './access.ts';
export { cliActor } from './access.ts';
export type { RegistryHooks } from './context.ts';
export type { ListOptions } from './rows.ts';
export { ROLES, type Role } from './schemas/index.ts';

export class Registry implements RegistryContext {
  readonly db: Database;
  hooks: RegistryHooks;
  /** When each token's last use was last written (users.authenticate writes it at most once a minute). */
  readonly #tokenTouched = new Map<string, number>();

  constructor(db: Database, hooks: RegistryHooks = {}) {
    this.db = db;
    this.hooks = hooks;
  }

  // ── organisations and sites: anyone reads ──

  createOrganisation(a: Actor, body: Static<typeof S.NewOrganisation>): Promise<S.Organisation> {
    return orgs.createOrganisation(this, a, body);
  }
  getOrganisation(_a: Actor, id: string): Promise<S.Organisation> {
    return organisations.get(this.db, id, 'organisation');
  }
  listOrganisations(_a: Actor, o: ListOptions & { type?: string | undefined } = {}): Promise<S.Organisation[]> {
    return orgs.listOrganisations(this, o);
  }
  updateOrganisation(a: Actor, id: string, patch: Static<typeof S.OrganisationPatch>): Promise<S.Organisation> {
    return orgs.updateOrganisation(this, a, id, patch);
  }

  createSite(a: Actor, body: Static<typeof S.NewSite>): Promise<S.Site> {
    return orgs.createSite(this, a, body);
  }
  getSite(_a: Actor, id: string): Promise<S.Site> {
    return sites.get(this.db, id, 'site');
  }
  listSites(_a: Actor, o: ListOptions & { orgId?: string | undefined } = {}): Promise<S.Site[]> {
    return orgs.listSites(this, o);
  }
  updateSite(a: Actor, id: string, patch: Static<typeof S.SitePatch>): Promise<S.Site> {
    return orgs.updateSite(this, a, id, patch);
  }

  // ── trials ──

  createTrial(a: Actor, body: Static<typeof S.NewTrial>): Promise<S.Trial> {
    return trials.createTrial(this, a, body);
  }
  getTrial(a: Actor, id: string): Promise<S.Trial> {
    return trials.getTrial(this, a, id);
  }
  listTrials(a: Actor, o: ListOptions & { orgId?: string | undefined } = {}): Promise<S.Trial[]> {
    return trials.listTrials(this, a, o);
  }
  updateTrial(a: Actor, id: string, patch: Static<typeof S.TrialPatch>): Promise<S.Trial> {
    return trials.updateTrial(this, a, id, patch);
  }

  // ── homes ──

  createHome(a: Actor, body: Static<typeof S.NewHome>): Promise<S.Home> {
    return homes.createHome(this, a, body);
  }
  getHome(a: Actor, id: string): Promise<S.Home> {
    return homes.getHome(this, a, id);
  }
  listHomes(a: Actor, o: ListOptions & { siteId?: string | undefined } = {}): Promise<S.Home[]> {
    return homes.listHomes(this, a, o);
  }
  updateHome(a: Actor, id: string, patch: Static<typeof S.HomePatch>): Promise<S.Home> {
    return homes.updateHome(this, a, id, patch);
  }

  // ── participants and absences: every read is audited ──

  createParticipant(a: Actor, body: Static<typeof S.NewParticipant>): Promise<S.Participant> {
    return participants.createParticipant(this, a, body);
  }
  getParticipant(a: Actor, id: string): Promise<S.Participant> {
    return participants.getParticipant(this, a, id);
  }
  listParticipants(
    a: Actor,
    o: ListOptions & { trialId?: string | undefined; homeId?: string | undefined } = {},
  ): Promise<S.Participant[]> {
    return participants.listParticipants(this, a, o);
  }
  updateParticipant(a: Actor, id: string, patch: Static<typeof S.ParticipantPatch>): Promise<S.Participant> {
    return participants.updateParticipant(this, a, id, patch);
  }
  /**
   * Withdrawal: from `at` on, no reading is attributed to the participant (ingest stops tagging);
   * `pastData` says whether what was collected before may still be exported.
   */
  withdrawParticipant(a: Actor, id: string, body: Static<typeof S.Withdrawal>): Promise<S.Participant> {
    return participants.withdrawParticipant(this, a, id, body);
  }

  createAbsence(a: Actor, body: Static<typeof S.NewAbsence>): Promise<S.Absence> {
    return participants.createAbsence(this, a, body);
  }
  getAbsence(a: Actor, id: string): Promise<S.Absence> {
    return participants.getAbsence(this, a, id);
  }
  listAbsences(a: Actor, o: ListOptions & { participantId?: string | undefined } = {}): Promise<S.Absence[]> {
    return participants.listAbsences(this, a, o);
  }
  updateAbsence(a: Actor, id: string, patch: Static<typeof S.AbsencePatch>): Promise<S.Absence> {
    return participants.updateAbsence(this, a, id, patch);
  }

  // ── devices and assignments ──

  createDevice(a: Actor, body: Static<typeof S.NewDevice>): Promise<S.Device> {
    return devices.createDevice(this, a, body);
  }
  getDevice(a: Actor, id: string): Promise<S.Device> {
    return devices.getDevice(this, a, id);
  }
  listDevices(a: Actor, o: ListOptions & { orgId?: string | undefined; kind?: string | undefined } = {}): Promise<S.Device[]> {
    return devices.listDevices(this, a, o);
  }
  updateDevice(a: Actor, id: string, patch: Static<typeof S.DevicePatch>): Promise<S.Device> {
    return devices.updateDevice(this, a, id, patch);
  }
  /** Ends the device's open assignment at `at` and starts one in `homeId` from `at`, in one transaction. */
  moveDevice(a: Actor, deviceId: string, body: Static<typeof S.Move>): Promise<S.Assignment> {
    return devices.moveDevice(this, a, deviceId, body);
  }
  /** A device's assignment history, oldest first. */
  async deviceHistory(a: Actor, deviceId: string): Promise<S.Assignment[]> {
    await this.getDevice(a, deviceId);
    return this.listAssignments(a, { deviceId, limit: 100_000 });
  }

  createAssignment(a: Actor, body: Static<typeof S.NewAssignment>): Promise<S.Assignment> {
    return devices.createAssignment(this, a, body);
  }
  getAssignment(a: Actor, id: string): Promise<S.Assignment> {
    return devices.getAssignment(this, a, id);
  }
  listAssignments(a: Actor, o: ListOptions & { deviceId?: string | undefined; homeId?: string | undefined } = {}): Promise<S.Assignment[]> {
    return devices.listAssignments(this, a, o);
  }
  updateAssignment(a: Actor, id: string, patch: Static<typeof S.AssignmentPatch>): Promise<S.Assignment> {
    return devices.updateAssignment(this, a, id, patch);
  }

  // ── gateways ──

  /**
   * Provisions a gateway and returns its MQTT credentials (shown once). An existing, unrevoked
   * gateway is refused unless `rotate`; a revoked one is re-issued. `createSite` (the CLI's
   * `gateway add`) creates a missing site on the fly.
   */
  createGateway(
    a: Actor,
    body: Static<typeof S.NewGateway>,
    opts: { rotate?: boolean; createSite?: boolean } = {},
  ): Promise<S.GatewayWithCredentials> {
    return gateways.createGateway(this, a, body, opts);
  }
  rotateGateway(a: Actor, id: string): Promise<S.GatewayWithCredentials> {
    return gateways.rotateGateway(this, a, id);
  }
  getGateway(a: Actor, id: string): Promise<S.Gateway> {
    return gateways.getGateway(this, a, id);
  }
  listGateways(a: Actor, o: ListOptions & { siteId?: string | undefined } = {}): Promise<S.Gateway[]> {
    return gateways.listGateways(this, a, o);
  }
  updateGateway(a: Actor, id: string, patch: Static<typeof S.GatewayPatch>): Promise<S.Gateway> {
    return gateways.updateGateway(this, a, id, patch);
  }
  /** Revokes a gateway: refused on its next connect, and disconnected now when the broker runs here. */
  revokeGateway(a: Actor, id: string): Promise<{ gateway: S.Gateway; disconnected: number }> {
    return gateways.revokeGateway(this, a, id);
  }
  /** Asks the gateway to open its Zigbee network for `seconds`; resolves with its reply. */
  permitJoin(a: Actor, id: string, seconds: number): Promise<unknown> {
    return gateways.permitJoin(this, a, id, seconds);
  }
  /** For the broker: a gateway's credential record by MQTT username. */
  gatewayCredential(username: string): Promise<GatewayCredential | undefined> {
    return gateways.gatewayCredential(this, username);
  }
  touchGateway(username: string, at: number): Promise<void> {
    return gateways.touchGateway(this, username, at);
  }

  // ── users and tokens: admins only ──

  createUser(a: Actor, body: Static<typeof S.NewUser>): Promise<S.User> {
    return users.createUser(this, a, body);
  }
  getUser(a: Actor, id: string): Promise<S.User> {
    return users.getUser(this, a, id);
  }
  listUsers(a: Actor, o: ListOptions = {}): Promise<S.User[]> {
    return users.listUsers(this, a, o);
  }
  updateUser(a: Actor, id: string, patch: Static<typeof S.UserPatch>): Promise<S.User> {
    return users.updateUser(this, a, id, patch);
  }
  createToken(a: Actor, userId: string, body: Static<typeof S.NewToken> = {}): Promise<S.IssuedToken> {
    return users.createToken(this, a, userId, body);
  }
  listTokens(a: Actor, userId: string): Promise<S.Token[]> {
    return users.listTokens(this, a, userId);
  }
  revokeToken(a: Actor, id: string): Promise<S.Token> {
    return users.revokeToken(this, a, id);
  }
  /** The actor behind a bearer token, or null (unknown, wrong secret, revoked, expired, user disabled). */
  authenticate(token: string): Promise<Actor | null> {
    return users.authenticate(this, this.#tokenTouched, token);
  }

  // ── audit ──

  listAudit(a: Actor, o: audit.AuditFilter = {}): Promise<S.AuditEntry[]> {
    return audit.listAudit(this, a, o);
  }
  /** Appends what another part of the centre did for `a` (monitoring reads and settings, dead-letter reads) to the audit log. */
  recordAudit(a: Actor, entry: audit.AuditRecord): Promise<void> {
    return audit.appendAudit(this, a, entry);
  }
  /**
   * Whose technical data (dead letters) `a` may read: null means no limit. A coordinator: their
   * organisation's sites; a company: the gateways it operates, as `site/gateway`; admins all;
   * researchers none.
   */
  async reach(a: Actor): Promise<{ sites: string[] | null; gateways: string[] | null }> {
    if (a.role === 'admin') return { sites: null, gateways: null };
    if (a.role === 'coordinator') return { sites: [...((await scopeOf(this.db, a)).sites ?? [])], gateways: null };
    if (a.role === 'company')
      return { sites: null, gateways: (await this.listGateways(a, { limit: 1_000_000 })).map((g) => `${g.siteId}/${g.gateway}`) };
    return { sites: [], gateways: null };
  }
  /** Id of the newest audit entry: it moves on every committed write, so it versions the registry. */
  version(): Promise<number> {
    return audit.registryVersion(this);
  }
}
