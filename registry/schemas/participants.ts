// Participants (pseudonyms only: no name, address or personal number is stored) and their
// absences (hospital stays, travel…), which say when missing data is expected.

import { type Static, Type } from 'typebox';
import { Body, Nullable, Strings, Ts } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';
import { AbsenceReason, ConsentStatus, EnrolmentConsent, LegalBasis, PastData } from './enums.ts';

export const Participant = Type.Object(
  {
    // No pattern here: the registry checks it, to answer with what a pseudonym looks like.
    id: Type.String({ description: 'Pseudonym, e.g. P-7K3Q9X (generated when omitted). No name, address or personal number is stored.' }),
    trialId: Type.String(),
    homeId: Type.String(),
    enrolledAt: Ts('enrolment'),
    withdrawnAt: Nullable(Ts('withdrawal')),
    consentStatus: ConsentStatus,
    consentScope: Strings('What the consent covers (device kinds, data uses)'),
    legalBasis: LegalBasis,
    pastData: Nullable(PastData),
    ...Stamps,
  },
  { title: 'Participant' },
);
export type Participant = Static<typeof Participant>;

export const NewParticipant = Body({
  ...fieldsOf(Participant, ['trialId', 'homeId', 'enrolledAt', 'legalBasis']),
  ...optionalFieldsOf(Participant, ['id', 'consentScope']),
  consentStatus: EnrolmentConsent,
});
export const ParticipantPatch = Body({
  ...optionalFieldsOf(Participant, ['homeId', 'enrolledAt', 'consentScope', 'legalBasis']),
  consentStatus: Type.Optional(EnrolmentConsent),
});
export const Withdrawal = Body({ at: Type.Optional(Ts('withdrawal; default now')), pastData: PastData });

export const Absence = Type.Object(
  {
    id: Type.String(),
    participantId: Type.String(),
    from: Ts('start'),
    to: Nullable(Ts('end')),
    reason: AbsenceReason,
    ...Stamps,
  },
  { title: 'Absence' },
);
export type Absence = Static<typeof Absence>;

export const NewAbsence = Body({ ...fieldsOf(Absence, ['participantId', 'from', 'reason']), ...optionalFieldsOf(Absence, ['to']) });
export const AbsencePatch = patchOf(Absence, ['from', 'to', 'reason']);
