// Every closed set of values the registry knows, written once. The TS type, the TypeBox enum (API
// validation and docs), the trial file's check and the SQL `CHECK (x IN (...))` of the migrations
// are all derived from these arrays, so a value added here is accepted everywhere at once (a new
// value still needs a migration for the CHECK: released migrations are never edited).

import { type Static, Type } from 'typebox';
import { quoteSqlString } from '../../lib/quote.ts';

export const ORG_TYPES = ['region', 'municipality', 'company', 'university', 'other'] as const;
export const PHASES = ['micro-trial', 'pilot', 'scale-up'] as const;
export const CONSENT_STATUSES = ['pending', 'consented', 'declined', 'withdrawn'] as const;
export const LEGAL_BASES = ['consent', 'public-task', 'legitimate-interests', 'scientific-research'] as const;
export const ABSENCE_REASONS = ['hospital-stay', 'travel', 'device-removed', 'respite-care', 'other'] as const;
export const PAST_DATA = ['retain', 'exclude'] as const;
export const ROLES = ['admin', 'coordinator', 'company', 'researcher'] as const;

export const OrgType = Type.Enum(ORG_TYPES);
export type OrgType = Static<typeof OrgType>;
export const Phase = Type.Enum(PHASES);
export type Phase = Static<typeof Phase>;
export const ConsentStatus = Type.Enum(CONSENT_STATUSES);
export type ConsentStatus = Static<typeof ConsentStatus>;
/**
 * Enrolment and updates record consent as it stands; withdrawing is its own operation (it also stops
 * attribution). Typed as every status: the registry refuses 'withdrawn' itself, with a message, for
 * callers that do not go through the API's validation.
 */
const ENROLMENT_CONSENT: readonly ConsentStatus[] = CONSENT_STATUSES.filter((s) => s !== 'withdrawn');
export const EnrolmentConsent = Type.Enum(ENROLMENT_CONSENT);
export const LegalBasis = Type.Enum(LEGAL_BASES, { description: 'GDPR legal basis for processing' });
export type LegalBasis = Static<typeof LegalBasis>;
export const AbsenceReason = Type.Enum(ABSENCE_REASONS);
export type AbsenceReason = Static<typeof AbsenceReason>;
export const PastData = Type.Enum(PAST_DATA, { description: 'After withdrawal: may data collected before it still be exported?' });
export type PastData = Static<typeof PastData>;
export const Role = Type.Enum(ROLES);
export type Role = Static<typeof Role>;

/** The values as the list of a SQL `IN (...)`: `'a', 'b'`. They are constants above, never input. */
export function sqlIn(values: readonly string[]): string {
  for (const v of values) if (!/^[a-z-]+$/.test(v)) throw new Error(`enum value '${v}' is not lowercase letters and dashes`);
  return values.map(quoteSqlString).join(', ');
}
