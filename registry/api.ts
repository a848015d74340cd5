// The registry's HTTP API under /api/v1: create, read, update and list for every resource, plus
// the verbs that are not plain updates (withdraw a participant, move a device, revoke a gateway,
// rotate its credentials, permit join). TypeBox schemas validate each request, shape each reply
// and document the route in /openapi.json (browsable at /docs).
//
// Every route needs `Authorization: Bearer <token>` (401 without a valid one) and names the roles
// that may call it (403 for the others, checked before the body is even validated); the registry
// then applies the finer rules (which organisation, which sites, consent).

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, type HttpPlugin } from '../http/index.ts';
import { Body, IdParam, Nullable, Page, Slug, Strings, Text, Ts } from '../http/schemas.ts';
import { ErrorBody, errorResponses } from '../http/errors.ts';
import { ROLES, type Registry, type Role } from './registry.ts';

const OrgType = Type.Enum(['region', 'municipality', 'company', 'university', 'other']);
const Phase = Type.Enum(['micro-trial', 'pilot', 'scale-up']);
const ConsentStatus = Type.Enum(['pending', 'consented', 'declined', 'withdrawn']);
const LegalBasis = Type.Enum(['consent', 'public-task', 'legitimate-interests', 'scientific-research'], {
  description: 'GDPR legal basis for processing',
});
const AbsenceReason = Type.Enum(['hospital-stay', 'travel', 'device-removed', 'respite-care', 'other']);
const PastData = Type.Enum(['retain', 'exclude'], { description: 'After withdrawal: may data collected before it still be exported?' });
const RoleT = Type.Enum(['admin', 'coordinator', 'company', 'researcher']);

const Stamps = { createdAt: Type.Integer(), updatedAt: Type.Integer() };
const S = {
  Organisation: Type.Object({ id: Type.String(), name: Type.String(), type: OrgType, ...Stamps }),
  Site: Type.Object({
    id: Type.String(),
    orgId: Nullable(Type.String()),
    name: Type.String(),
    facilities: Type.Array(Type.String(), { description: 'What the site offers as a test facility' }),
    description: Nullable(Type.String()),
    ...Stamps,
  }),
  Trial: Type.Object({
    id: Type.String(),
    orgId: Type.String(),
    name: Type.String(),
    phase: Phase,
    protocolVersion: Type.String(),
    startAt: Type.Integer(),
    endAt: Nullable(Type.Integer()),
    siteIds: Type.Array(Type.String()),
    ...Stamps,
  }),
  Home: Type.Object({ id: Type.String(), siteId: Type.String(), label: Nullable(Type.String()), ...Stamps }),
  Participant: Type.Object({
    id: Type.String({ description: 'Pseudonym, e.g. P-7K3Q9X. No name, address or personal number is stored.' }),
    trialId: Type.String(),
    homeId: Type.String(),
    enrolledAt: Type.Integer(),
    withdrawnAt: Nullable(Type.Integer()),
    consentStatus: ConsentStatus,
    consentScope: Type.Array(Type.String()),
    legalBasis: LegalBasis,
    pastData: Nullable(PastData),
    ...Stamps,
  }),
  Absence: Type.Object({
    id: Type.String(),
    participantId: Type.String(),
    from: Type.Integer(),
    to: Nullable(Type.Integer()),
    reason: AbsenceReason,
    ...Stamps,
  }),
  Device: Type.Object({
    id: Type.String({ description: "What the gateway reports as 'dev'" }),
    kind: Type.String(),
    vendor: Type.String(),
    model: Type.String(),
    firmware: Nullable(Type.String()),
    zigbeeAddress: Nullable(Type.String()),
    serial: Nullable(Type.String()),
    orgId: Type.String({ description: 'Owning company' }),
    ...Stamps,
  }),
  Assignment: Type.Object({
    id: Type.String(),
    deviceId: Type.String(),
    homeId: Type.String(),
    participantId: Nullable(Type.String()),
    from: Type.Integer(),
    to: Nullable(Type.Integer()),
    ...Stamps,
  }),
  Gateway: Type.Object({
    id: Type.String({ description: 'MQTT username: {site}.{gateway}' }),
    siteId: Type.String(),
    gateway: Type.String(),
    homeId: Nullable(Type.String()),
    orgId: Nullable(Type.String()),
    ...Stamps,
    revokedAt: Nullable(Type.Integer()),
    lastSeenAt: Nullable(Type.Integer()),
  }),
  User: Type.Object({
    id: Type.String(),
    name: Type.String(),
    role: RoleT,
    orgId: Nullable(Type.String()),
    ...Stamps,
    disabledAt: Nullable(Type.Integer()),
  }),
  Token: Type.Object({
    id: Type.String(),
    userId: Type.String(),
    label: Nullable(Type.String()),
    createdAt: Type.Integer(),
    expiresAt: Nullable(Type.Integer()),
    revokedAt: Nullable(Type.Integer()),
    lastUsedAt: Nullable(Type.Integer()),
  }),
  Audit: Type.Object({
    id: Type.Integer(),
    at: Type.Integer(),
    actor: Type.String(),
    role: Type.String(),
    tokenId: Nullable(Type.String()),
    action: Type.String(),
    resourceType: Type.String(),
    resourceId: Nullable(Type.String()),
    details: Type.Record(Type.String(), Type.Unknown()),
  }),
};
const Credentials = Type.Object({ username: Type.String(), password: Type.String({ description: 'Shown once; only its hash is stored' }) });
const errors = errorResponses(400, 404, 409);

const ALL = ROLES;
const STAFF: readonly Role[] = ['admin', 'coordinator'];
const READ_PARTICIPANTS: readonly Role[] = ['admin', 'coordinator', 'researcher'];

export interface ApiOptions {
  registry: Registry;
}

/** The registry routes, for http.ts's `plugins`. */
export function registryApi(opts: ApiOptions): HttpPlugin {
  const { registry } = opts;
  return async (app) => {
    await app.register(
      async (inner) => {
        const api = inner.withTypeProvider<TypeBoxTypeProvider>();
        const who = actorOf;
        const doc = (summary: string, _roles: readonly Role[], extra: Record<string, unknown> = {}) => ({ summary, ...extra });
        const cfg = (roles: readonly Role[]) => ({ config: { roles } });

        api.get(
          '/me',
          {
            ...cfg(ALL),
            schema: {
              ...doc('Who this token acts for', ALL),
              response: {
                200: Type.Object({ id: Type.String(), role: RoleT, orgId: Nullable(Type.String()), tokenId: Nullable(Type.String()) }),
              },
            },
          },
          async (req) => {
            const a = who(req);
            return { id: a.id, role: a.role, orgId: a.orgId, tokenId: a.tokenId ?? null };
          },
        );

        // ── organisations ──
        const tagOrg = { tags: ['organisations'] };
        api.post(
          '/organisations',
          {
            ...cfg(['admin']),
            schema: {
              ...doc('Create an organisation (region, municipality, company…)', ['admin'], tagOrg),
              body: Body({ id: Type.Optional(Slug('organisation')), name: Text(), type: OrgType }),
              response: { 201: S.Organisation, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createOrganisation(who(req), req.body)),
        );
        api.get(
          '/organisations',
          {
            ...cfg(ALL),
            schema: {
              ...doc('List organisations', ALL, tagOrg),
              querystring: Type.Object({ type: Type.Optional(OrgType), ...Page }),
              response: { 200: Type.Array(S.Organisation) },
            },
          },
          async (req) => registry.listOrganisations(who(req), req.query),
        );
        api.get(
          '/organisations/:id',
          {
            ...cfg(ALL),
            schema: { ...doc('Read an organisation', ALL, tagOrg), params: IdParam, response: { 200: S.Organisation, ...errors } },
          },
          async (req) => registry.getOrganisation(who(req), req.params.id),
        );
        api.patch(
          '/organisations/:id',
          {
            ...cfg(['admin']),
            schema: {
              ...doc('Change an organisation', ['admin'], tagOrg),
              params: IdParam,
              body: Body({ name: Type.Optional(Text()), type: Type.Optional(OrgType) }),
              response: { 200: S.Organisation, ...errors },
            },
          },
          async (req) => registry.updateOrganisation(who(req), req.params.id, req.body),
        );

        // ── sites ──
        const tagSite = { tags: ['sites'] };
        const siteFields = {
          name: Text(),
          facilities: Type.Optional(Strings('What the site offers as a test facility (e.g. apartments, nursing-home, showroom)')),
          description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
        };
        api.post(
          '/sites',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Create a site (a test facility)', STAFF, tagSite),
              body: Body({ id: Type.Optional(Slug('site')), orgId: Type.Optional(Nullable(Type.String())), ...siteFields }),
              response: { 201: S.Site, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createSite(who(req), req.body)),
        );
        api.get(
          '/sites',
          {
            ...cfg(ALL),
            schema: {
              ...doc('List sites', ALL, tagSite),
              querystring: Type.Object({ orgId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Site) },
            },
          },
          async (req) => registry.listSites(who(req), req.query),
        );
        api.get(
          '/sites/:id',
          { ...cfg(ALL), schema: { ...doc('Read a site', ALL, tagSite), params: IdParam, response: { 200: S.Site, ...errors } } },
          async (req) => registry.getSite(who(req), req.params.id),
        );
        api.patch(
          '/sites/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change a site', STAFF, tagSite),
              params: IdParam,
              body: Body({
                orgId: Type.Optional(Nullable(Type.String())),
                name: Type.Optional(Text()),
                facilities: siteFields.facilities,
                description: siteFields.description,
              }),
              response: { 200: S.Site, ...errors },
            },
          },
          async (req) => registry.updateSite(who(req), req.params.id, req.body),
        );

        // ── trials ──
        const tagTrial = { tags: ['trials'] };
        api.post(
          '/trials',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Create a trial', STAFF, tagTrial),
              body: Body({
                id: Type.Optional(Slug('trial')),
                orgId: Type.Optional(Type.String({ description: 'Coordinating organisation (a coordinator: their own)' })),
                name: Text(),
                phase: Phase,
                protocolVersion: Type.String({ minLength: 1, maxLength: 50 }),
                startAt: Ts('start'),
                endAt: Type.Optional(Nullable(Ts('end'))),
                siteIds: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
              }),
              response: { 201: S.Trial, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createTrial(who(req), req.body)),
        );
        api.get(
          '/trials',
          {
            ...cfg(ALL),
            schema: {
              ...doc("List trials (a coordinator: their organisation's)", ALL, tagTrial),
              querystring: Type.Object({ orgId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Trial) },
            },
          },
          async (req) => registry.listTrials(who(req), req.query),
        );
        api.get(
          '/trials/:id',
          { ...cfg(ALL), schema: { ...doc('Read a trial', ALL, tagTrial), params: IdParam, response: { 200: S.Trial, ...errors } } },
          async (req) => registry.getTrial(who(req), req.params.id),
        );
        api.patch(
          '/trials/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change a trial (phase, protocol version, dates, sites)', STAFF, tagTrial),
              params: IdParam,
              body: Body({
                name: Type.Optional(Text()),
                phase: Type.Optional(Phase),
                protocolVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
                startAt: Type.Optional(Ts('start')),
                endAt: Type.Optional(Nullable(Ts('end'))),
                siteIds: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
              }),
              response: { 200: S.Trial, ...errors },
            },
          },
          async (req) => registry.updateTrial(who(req), req.params.id, req.body),
        );

        // ── homes ──
        const tagHome = { tags: ['homes'] };
        const HOME_READ: readonly Role[] = ['admin', 'coordinator', 'researcher'];
        api.post(
          '/homes',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Create a home at a site', STAFF, tagHome),
              body: Body({
                id: Type.Optional(Slug('home')),
                siteId: Type.String(),
                label: Type.Optional(Nullable(Type.String({ maxLength: 100, description: 'A neutral label, never an address' }))),
              }),
              response: { 201: S.Home, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createHome(who(req), req.body)),
        );
        api.get(
          '/homes',
          {
            ...cfg(HOME_READ),
            schema: {
              ...doc('List homes', HOME_READ, tagHome),
              querystring: Type.Object({ siteId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Home) },
            },
          },
          async (req) => registry.listHomes(who(req), req.query),
        );
        api.get(
          '/homes/:id',
          {
            ...cfg(HOME_READ),
            schema: { ...doc('Read a home', HOME_READ, tagHome), params: IdParam, response: { 200: S.Home, ...errors } },
          },
          async (req) => registry.getHome(who(req), req.params.id),
        );
        api.patch(
          '/homes/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change a home', STAFF, tagHome),
              params: IdParam,
              body: Body({ label: Type.Optional(Nullable(Type.String({ maxLength: 100 }))) }),
              response: { 200: S.Home, ...errors },
            },
          },
          async (req) => registry.updateHome(who(req), req.params.id, req.body),
        );

        // ── participants ──
        const tagP = { tags: ['participants'] };
        api.post(
          '/participants',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Enrol a participant under a pseudonym (generated unless given)', STAFF, tagP),
              body: Body({
                id: Type.Optional(Type.String({ description: 'A pseudonym P-XXXXXX; generated when omitted' })),
                trialId: Type.String(),
                homeId: Type.String(),
                enrolledAt: Ts('enrolment'),
                consentStatus: Type.Enum(['pending', 'consented', 'declined']),
                consentScope: Type.Optional(Strings('What the consent covers (device kinds, data uses)')),
                legalBasis: LegalBasis,
              }),
              response: { 201: S.Participant, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createParticipant(who(req), req.body)),
        );
        api.get(
          '/participants',
          {
            ...cfg(READ_PARTICIPANTS),
            schema: {
              ...doc('List participants (researchers: consented only). Audited.', READ_PARTICIPANTS, tagP),
              querystring: Type.Object({ trialId: Type.Optional(Type.String()), homeId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Participant) },
            },
          },
          async (req) => registry.listParticipants(who(req), req.query),
        );
        api.get(
          '/participants/:id',
          {
            ...cfg(READ_PARTICIPANTS),
            schema: {
              ...doc('Read a participant. Audited.', READ_PARTICIPANTS, tagP),
              params: IdParam,
              response: { 200: S.Participant, ...errors },
            },
          },
          async (req) => registry.getParticipant(who(req), req.params.id),
        );
        api.patch(
          '/participants/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change a participant (home, enrolment, consent)', STAFF, tagP),
              params: IdParam,
              body: Body({
                homeId: Type.Optional(Type.String()),
                enrolledAt: Type.Optional(Ts('enrolment')),
                consentStatus: Type.Optional(Type.Enum(['pending', 'consented', 'declined'])),
                consentScope: Type.Optional(Strings('What the consent covers')),
                legalBasis: Type.Optional(LegalBasis),
              }),
              response: { 200: S.Participant, ...errors },
            },
          },
          async (req) => registry.updateParticipant(who(req), req.params.id, req.body),
        );
        api.post(
          '/participants/:id/withdraw',
          {
            ...cfg(STAFF),
            schema: {
              ...doc(
                'Withdraw a participant: from `at` on no reading is attributed to them; `pastData` flags what was collected before for export rules',
                STAFF,
                tagP,
              ),
              params: IdParam,
              body: Body({ at: Type.Optional(Ts('withdrawal; default now')), pastData: PastData }),
              response: { 200: S.Participant, ...errors },
            },
          },
          async (req) => registry.withdrawParticipant(who(req), req.params.id, req.body),
        );

        // ── absences ──
        const tagA = { tags: ['absences'] };
        api.post(
          '/absences',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Record an absence (hospital stay, travel, device removed…)', STAFF, tagA),
              body: Body({
                participantId: Type.String(),
                from: Ts('start'),
                to: Type.Optional(Nullable(Ts('end'))),
                reason: AbsenceReason,
              }),
              response: { 201: S.Absence, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createAbsence(who(req), req.body)),
        );
        api.get(
          '/absences',
          {
            ...cfg(READ_PARTICIPANTS),
            schema: {
              ...doc('List absences. Audited.', READ_PARTICIPANTS, tagA),
              querystring: Type.Object({ participantId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Absence) },
            },
          },
          async (req) => registry.listAbsences(who(req), req.query),
        );
        api.get(
          '/absences/:id',
          {
            ...cfg(READ_PARTICIPANTS),
            schema: {
              ...doc('Read an absence. Audited.', READ_PARTICIPANTS, tagA),
              params: IdParam,
              response: { 200: S.Absence, ...errors },
            },
          },
          async (req) => registry.getAbsence(who(req), req.params.id),
        );
        api.patch(
          '/absences/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change an absence', STAFF, tagA),
              params: IdParam,
              body: Body({
                from: Type.Optional(Ts('start')),
                to: Type.Optional(Nullable(Ts('end'))),
                reason: Type.Optional(AbsenceReason),
              }),
              response: { 200: S.Absence, ...errors },
            },
          },
          async (req) => registry.updateAbsence(who(req), req.params.id, req.body),
        );

        // ── devices ──
        const tagD = { tags: ['devices'] };
        const DEV_WRITE: readonly Role[] = ['admin', 'company'];
        const devFields = {
          vendor: Text(),
          model: Text(),
          firmware: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
          zigbeeAddress: Type.Optional(
            Nullable(Type.String({ pattern: '^0x[0-9a-fA-F]{16}$', description: 'IEEE address, e.g. 0x00158d0001a2b3c4' })),
          ),
          serial: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
        };
        api.post(
          '/devices',
          {
            ...cfg(DEV_WRITE),
            schema: {
              ...doc('Register a device', DEV_WRITE, tagD),
              body: Body({
                id: Type.String({ description: "What the gateway reports as 'dev'" }),
                kind: Type.String({ description: 'A kind from the device catalogue' }),
                ...devFields,
                orgId: Type.Optional(Type.String({ description: 'Owning company (a company: their own)' })),
              }),
              response: { 201: S.Device, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createDevice(who(req), req.body)),
        );
        api.get(
          '/devices',
          {
            ...cfg(ALL),
            schema: {
              ...doc('List devices (a company: its own)', ALL, tagD),
              querystring: Type.Object({ orgId: Type.Optional(Type.String()), kind: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Device) },
            },
          },
          async (req) => registry.listDevices(who(req), req.query),
        );
        api.get(
          '/devices/:id',
          { ...cfg(ALL), schema: { ...doc('Read a device', ALL, tagD), params: IdParam, response: { 200: S.Device, ...errors } } },
          async (req) => registry.getDevice(who(req), req.params.id),
        );
        api.patch(
          '/devices/:id',
          {
            ...cfg(DEV_WRITE),
            schema: {
              ...doc('Change a device (firmware after an update, …)', DEV_WRITE, tagD),
              params: IdParam,
              body: Body({
                vendor: Type.Optional(Text()),
                model: Type.Optional(Text()),
                firmware: devFields.firmware,
                zigbeeAddress: devFields.zigbeeAddress,
                serial: devFields.serial,
                orgId: Type.Optional(Type.String()),
              }),
              response: { 200: S.Device, ...errors },
            },
          },
          async (req) => registry.updateDevice(who(req), req.params.id, req.body),
        );
        api.get(
          '/devices/:id/assignments',
          {
            ...cfg(ALL),
            schema: {
              ...doc("A device's assignment history, oldest first (companies do not see participants)", ALL, tagD),
              params: IdParam,
              response: { 200: Type.Array(S.Assignment), ...errors },
            },
          },
          async (req) => registry.deviceHistory(who(req), req.params.id),
        );
        api.post(
          '/devices/:id/move',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Move a device to another home at `at`: ends its current assignment and starts a new one', STAFF, tagD),
              params: IdParam,
              body: Body({ homeId: Type.String(), at: Ts('the move'), participantId: Type.Optional(Nullable(Type.String())) }),
              response: { 201: S.Assignment, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.moveDevice(who(req), req.params.id, req.body)),
        );

        // ── assignments ──
        const tagAs = { tags: ['assignments'] };
        api.post(
          '/assignments',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Assign a device to a home from `from` (to `to`); a device is in one home at a time', STAFF, tagAs),
              body: Body({
                deviceId: Type.String(),
                homeId: Type.String(),
                participantId: Type.Optional(Nullable(Type.String({ description: 'For a personal device (a wearable)' }))),
                from: Ts('start'),
                to: Type.Optional(Nullable(Ts('end'))),
              }),
              response: { 201: S.Assignment, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createAssignment(who(req), req.body)),
        );
        api.get(
          '/assignments',
          {
            ...cfg(ALL),
            schema: {
              ...doc('List assignments', ALL, tagAs),
              querystring: Type.Object({ deviceId: Type.Optional(Type.String()), homeId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Assignment) },
            },
          },
          async (req) => registry.listAssignments(who(req), req.query),
        );
        api.get(
          '/assignments/:id',
          {
            ...cfg(ALL),
            schema: { ...doc('Read an assignment', ALL, tagAs), params: IdParam, response: { 200: S.Assignment, ...errors } },
          },
          async (req) => registry.getAssignment(who(req), req.params.id),
        );
        api.patch(
          '/assignments/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change an assignment (end it with `to`)', STAFF, tagAs),
              params: IdParam,
              body: Body({
                from: Type.Optional(Ts('start')),
                to: Type.Optional(Nullable(Ts('end'))),
                participantId: Type.Optional(Nullable(Type.String())),
              }),
              response: { 200: S.Assignment, ...errors },
            },
          },
          async (req) => registry.updateAssignment(who(req), req.params.id, req.body),
        );

        // ── gateways ──
        const tagG = { tags: ['gateways'] };
        const GW_READ: readonly Role[] = ['admin', 'coordinator', 'company'];
        const WithCredentials = Type.Object({ gateway: S.Gateway, credentials: Credentials });
        api.post(
          '/gateways',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Provision a gateway: returns its MQTT credentials once; a running broker accepts them at once', STAFF, tagG),
              body: Body({
                siteId: Slug('site'),
                gateway: Slug('gateway'),
                homeId: Type.Optional(Nullable(Type.String())),
                orgId: Type.Optional(Nullable(Type.String({ description: 'The company operating it' }))),
              }),
              response: { 201: WithCredentials, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createGateway(who(req), req.body)),
        );
        api.get(
          '/gateways',
          {
            ...cfg(GW_READ),
            schema: {
              ...doc('List gateways', GW_READ, tagG),
              querystring: Type.Object({ siteId: Type.Optional(Type.String()), ...Page }),
              response: { 200: Type.Array(S.Gateway) },
            },
          },
          async (req) => registry.listGateways(who(req), req.query),
        );
        api.get(
          '/gateways/:id',
          {
            ...cfg(GW_READ),
            schema: {
              ...doc('Read a gateway (never its password)', GW_READ, tagG),
              params: IdParam,
              response: { 200: S.Gateway, ...errors },
            },
          },
          async (req) => registry.getGateway(who(req), req.params.id),
        );
        api.patch(
          '/gateways/:id',
          {
            ...cfg(STAFF),
            schema: {
              ...doc('Change a gateway (home, operating company)', STAFF, tagG),
              params: IdParam,
              body: Body({ homeId: Type.Optional(Nullable(Type.String())), orgId: Type.Optional(Nullable(Type.String())) }),
              response: { 200: S.Gateway, ...errors },
            },
          },
          async (req) => registry.updateGateway(who(req), req.params.id, req.body),
        );
        api.post(
          '/gateways/:id/revoke',
          {
            ...cfg(GW_READ),
            schema: {
              ...doc('Revoke a gateway: disconnected now (broker in this process) and refused on its next connect', GW_READ, tagG),
              params: IdParam,
              response: { 200: Type.Object({ gateway: S.Gateway, disconnected: Type.Integer() }), ...errors },
            },
          },
          async (req) => registry.revokeGateway(who(req), req.params.id),
        );
        api.post(
          '/gateways/:id/credentials',
          {
            ...cfg(STAFF),
            schema: {
              ...doc("Rotate (or re-issue after revocation) a gateway's credentials; the old password stops working", STAFF, tagG),
              params: IdParam,
              response: { 201: WithCredentials, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.rotateGateway(who(req), req.params.id)),
        );
        api.post(
          '/gateways/:id/permit-join',
          {
            ...cfg(GW_READ),
            schema: {
              ...doc(
                "Open the gateway's Zigbee network for pairing: publishes {seconds, id} on …/cmd/permit_join and waits for …/cmd/permit_join/reply (504 when the gateway does not answer)",
                GW_READ,
                tagG,
              ),
              params: IdParam,
              body: Body({ seconds: Type.Integer({ minimum: 0, maximum: 254, description: '0 closes the network' }) }),
              response: { 200: Type.Object({ reply: Type.Unknown() }), 503: ErrorBody, 504: ErrorBody, ...errors },
            },
          },
          async (req) => ({ reply: await registry.permitJoin(who(req), req.params.id, req.body.seconds) }),
        );

        // ── users and tokens ──
        const tagU = { tags: ['users'] };
        const ADMIN: readonly Role[] = ['admin'];
        api.post(
          '/users',
          {
            ...cfg(ADMIN),
            schema: {
              ...doc('Create a user with a role', ADMIN, tagU),
              body: Body({ name: Text('Display name'), role: RoleT, orgId: Type.Optional(Nullable(Type.String())) }),
              response: { 201: S.User, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createUser(who(req), req.body)),
        );
        api.get(
          '/users',
          {
            ...cfg(ADMIN),
            schema: { ...doc('List users', ADMIN, tagU), querystring: Type.Object(Page), response: { 200: Type.Array(S.User) } },
          },
          async (req) => registry.listUsers(who(req), req.query),
        );
        api.get(
          '/users/:id',
          { ...cfg(ADMIN), schema: { ...doc('Read a user', ADMIN, tagU), params: IdParam, response: { 200: S.User, ...errors } } },
          async (req) => registry.getUser(who(req), req.params.id),
        );
        api.patch(
          '/users/:id',
          {
            ...cfg(ADMIN),
            schema: {
              ...doc("Rename or disable a user (a disabled user's tokens stop working)", ADMIN, tagU),
              params: IdParam,
              body: Body({ name: Type.Optional(Text()), disabled: Type.Optional(Type.Boolean()) }),
              response: { 200: S.User, ...errors },
            },
          },
          async (req) => registry.updateUser(who(req), req.params.id, req.body),
        );
        api.post(
          '/users/:id/tokens',
          {
            ...cfg(ADMIN),
            schema: {
              ...doc('Issue an API token for a user: shown once, stored hashed', ADMIN, tagU),
              params: IdParam,
              body: Type.Optional(
                Body({ label: Type.Optional(Nullable(Type.String({ maxLength: 100 }))), expiresAt: Type.Optional(Nullable(Ts('expiry'))) }),
              ),
              response: { 201: Type.Object({ ...S.Token.properties, token: Type.String() }), ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(await registry.createToken(who(req), req.params.id, req.body ?? {})),
        );
        api.get(
          '/users/:id/tokens',
          {
            ...cfg(ADMIN),
            schema: {
              ...doc("A user's tokens (never the secrets)", ADMIN, tagU),
              params: IdParam,
              response: { 200: Type.Array(S.Token), ...errors },
            },
          },
          async (req) => registry.listTokens(who(req), req.params.id),
        );
        api.post(
          '/tokens/:id/revoke',
          { ...cfg(ADMIN), schema: { ...doc('Revoke an API token', ADMIN, tagU), params: IdParam, response: { 200: S.Token, ...errors } } },
          async (req) => registry.revokeToken(who(req), req.params.id),
        );

        // ── audit ──
        api.get(
          '/audit',
          {
            ...cfg(ADMIN),
            schema: {
              ...doc('The audit log (append-only): who did or read what, when', ADMIN, { tags: ['audit'] }),
              querystring: Type.Object({
                resourceType: Type.Optional(Type.String()),
                resourceId: Type.Optional(Type.String()),
                actor: Type.Optional(Type.String()),
                action: Type.Optional(Type.String()),
                since: Type.Optional(Ts('from')),
                ...Page,
              }),
              response: { 200: Type.Array(S.Audit) },
            },
          },
          async (req) => registry.listAudit(who(req), req.query),
        );
      },
      { prefix: '/api/v1' },
    );
  };
}
