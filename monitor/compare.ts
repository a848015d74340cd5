// Site comparison over a period, and baseline versus intervention. The participant is the unit
// (days of one person are not independent): per-participant values first, then a mean with a
// Student t interval across participants. False-alarm rate: Wilson score over labelled alerts.
// Alerts per participant-week: exact Poisson (Garwood) over participant-weeks of enrolment
// minus absences. Baseline vs intervention: paired t over participants present in both.
// With `minParticipants` (a company's view) a cell computed over fewer participants is suppressed:
// its estimate and interval are null, n is 0, and `suppressed` says why; a site with fewer than
// that many participants reports its participant count and participant-weeks as null.

import type { Alert, AlertEngine } from './alerts.ts';
import type { Completeness, CompletenessQuery, ParticipantDay } from './completeness.ts';
import type { Access } from './registry-view.ts';
import { meanT, pairedT, poissonRate, wilson, type Interval } from './stats.ts';

const CARE_RULES = new Set(['fall', 'no-drink', 'wet']);
const TECH_RULES = new Set(['device-silent', 'gateway-offline', 'battery-low']);
/** An outcome day counts only when the device behind it delivered at least half its slots. */
const OUTCOME_MIN_COVERAGE = 0.5;

export interface SiteMetrics {
  site: string;
  /** null when suppressed (fewer than `minParticipants`). */
  participants: number | null;
  participantWeeks: number | null;
  completeness: Interval;
  deviceUptime: Interval;
  careAlertsPerParticipantWeek: Interval;
  technicalAlertsPerParticipantWeek: Interval;
  falseAlarmRate: Interval;
  dailyFluidIntakeMl: Interval;
  nightToiletVisits: Interval;
  timeInBedHours: Interval;
}

type Outcome = 'completeness' | 'dailyFluidIntakeMl' | 'nightToiletVisits' | 'timeInBedHours';

interface PerParticipant {
  site: string;
  completeness: number | null;
  dailyFluidIntakeMl: number | null;
  nightToiletVisits: number | null;
  timeInBedHours: number | null;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function perParticipant(days: ParticipantDay[]): Map<string, PerParticipant> {
  const by = new Map<string, ParticipantDay[]>();
  for (const d of days) by.set(d.participant, [...(by.get(d.participant) ?? []), d]);
  const out = new Map<string, PerParticipant>();
  for (const [id, list] of by) {
    const exp = list.reduce((a, d) => a + d.expectedSlots, 0);
    const cov = list.reduce((a, d) => a + d.coveredSlots, 0);
    const outcome = (kind: string, pick: (x: ParticipantDay['devices'][number]) => number | undefined, scale = 1) =>
      mean(
        list.flatMap((d) => {
          const devs = d.devices.filter(
            (x) => x.kind === kind && x.expectedSlots > 0 && x.coveredSlots / x.expectedSlots >= OUTCOME_MIN_COVERAGE,
          );
          return devs.length ? [devs.reduce((a, x) => a + (pick(x) ?? 0), 0) / scale] : [];
        }),
      );
    out.set(id, {
      site: list[0]!.site,
      completeness: exp > 0 ? cov / exp : null,
      dailyFluidIntakeMl: outcome('hydration', (x) => x.intakeMl),
      nightToiletVisits: outcome('toilet', (x) => x.nightFlushes),
      timeInBedHours: outcome('bed', (x) => x.bedMs, 3_600_000),
    });
  }
  return out;
}

/** A cell too small to show: no estimate, no interval, no n, and why. */
export function suppressedCell(minParticipants: number, method: Interval['method']): Interval {
  return { estimate: null, lower: null, upper: null, n: 0, method, suppressed: `fewer than ${minParticipants} participants` };
}

/** The cell, or a suppressed one when it rests on fewer than `min` participants (min 0: never). */
const guard = (iv: Interval, participants: number, min: number): Interval =>
  min > 0 && participants < min ? suppressedCell(min, iv.method) : iv;

function siteMetrics(site: string, days: ParticipantDay[], alerts: Alert[], now: number, min = 0): SiteMetrics {
  const mine = days.filter((d) => d.site === site);
  const pp = [...perParticipant(mine).values()];
  const vals = (k: Outcome) => pp.map((p) => p[k]).filter((x): x is number => x !== null);
  // Device uptime: share of expected device-days on which the device reported at all, per device.
  // Its cell rests on the participants whose homes those devices are in, not on the whole site: at a
  // site of five, one home's devices alone must not make an unsuppressed cell.
  const devDays = new Map<string, [number, number]>();
  const uptimeParticipants = new Set<string>();
  for (const d of mine)
    for (const x of d.devices) {
      if (x.expectedSlots === 0) continue;
      const c = devDays.get(x.device) ?? [0, 0];
      devDays.set(x.device, [c[0] + (x.received > 0 ? 1 : 0), c[1] + 1]);
      uptimeParticipants.add(d.participant);
    }
  const exposureDays = mine.reduce(
    (a, d) => a + Math.max(0, (Math.min(d.dayStart + 86_400_000, now) - d.dayStart) / 86_400_000 - d.absentHours / 24),
    0,
  );
  const weeks = exposureDays / 7;
  const siteAlerts = alerts.filter((a) => a.site === site);
  const labelled = siteAlerts.filter((a) => a.label !== null);
  // Site-level cells rest on every participant of the site; the false-alarm rate on those whose alerts were labelled.
  const all = pp.length;
  const labelledUnits = new Set(labelled.map((a) => a.participant ?? a.home ?? a.device ?? a.id)).size;
  const outcome = (k: Outcome, clamp: [number, number]) => guard(meanT(vals(k), clamp), vals(k).length, min);
  const small = min > 0 && all < min;
  return {
    site,
    participants: small ? null : all,
    participantWeeks: small ? null : Math.round(weeks * 1000) / 1000,
    completeness: outcome('completeness', [0, 1]),
    deviceUptime: guard(
      meanT(
        [...devDays.values()].map(([u, n]) => u / n),
        [0, 1],
      ),
      uptimeParticipants.size,
      min,
    ),
    careAlertsPerParticipantWeek: guard(poissonRate(siteAlerts.filter((a) => CARE_RULES.has(a.rule)).length, weeks), all, min),
    technicalAlertsPerParticipantWeek: guard(poissonRate(siteAlerts.filter((a) => TECH_RULES.has(a.rule)).length, weeks), all, min),
    falseAlarmRate: guard(
      wilson(labelled.filter((a) => a.label === 'false').length, labelled.length),
      small ? 0 : labelled.length ? labelledUnits : min,
      min,
    ),
    dailyFluidIntakeMl: outcome('dailyFluidIntakeMl', [0, Infinity]),
    nightToiletVisits: outcome('nightToiletVisits', [0, Infinity]),
    timeInBedHours: outcome('timeInBedHours', [0, 24]),
  };
}

export interface Comparison {
  from: number;
  to: number;
  methods: Record<string, string>;
  sites: SiteMetrics[];
  baselineVsIntervention?: {
    baseline: { from: number; to: number };
    intervention: { from: number; to: number };
    sites: { site: string; baseline: SiteMetrics; intervention: SiteMetrics; difference: Record<Outcome, Interval> }[];
  };
}

export const METHODS = {
  completeness:
    'mean of per-participant completeness (covered/expected reporting slots), Student t 95% CI across participants, clamped to [0, 1]',
  deviceUptime: 'mean over devices of the share of expected device-days with at least one reading, Student t 95% CI across devices',
  alertsPerParticipantWeek:
    'alerts opened / participant-weeks (enrolled days minus absences ÷ 7), exact Poisson (Garwood) 95% CI; ' +
    'care = fall, no-drink, wet; technical = device-silent, gateway-offline, battery-low',
  falseAlarmRate: 'alerts labelled false / alerts labelled, Wilson score 95% CI',
  outcomes: 'per-participant mean of daily values (days whose device delivered ≥ 50% of its slots), Student t 95% CI across participants',
  difference: 'intervention − baseline per participant present in both, paired t 95% CI',
  suppression:
    'for a company: consented participants only, at sites where it operates devices or gateways; a cell computed over fewer ' +
    'than 5 participants has estimate, lower and upper null, n 0 and `suppressed` saying why (participants and ' +
    'participantWeeks null when the site has fewer than 5)',
};

export async function compareSites(
  c: Completeness,
  alerts: AlertEngine,
  q: Omit<CompletenessQuery, 'participant'> & {
    sites?: string[] | undefined;
    baseline?: { from: number; to: number } | undefined;
    intervention?: { from: number; to: number } | undefined;
  },
  access: Access | null,
  opts: { minParticipants?: number } = {},
): Promise<Comparison> {
  const min = opts.minParticipants ?? 0;
  const run = async (from: number, to: number) => {
    const days = await c.participantDays({ ...q, from, to }, access);
    let inPeriod = alerts.list({ since: from, until: to, sites: access?.sites ?? null, limit: 1_000_000 });
    if (access?.consentedOnly) {
      // Alerts count only for the participants (or their homes) this caller's figures rest on.
      const people = new Set(days.map((d) => d.participant));
      const homes = new Set(days.map((d) => d.home));
      inPeriod = inPeriod.filter((a) => (a.participant ? people.has(a.participant) : a.home ? homes.has(a.home) : true));
    }
    const sites = q.sites ?? [...new Set(days.map((d) => d.site))].sort();
    return { days, sites: sites.map((s) => siteMetrics(s, days, inPeriod, Math.min(q.now, to), min)) };
  };
  const main = await run(q.from, q.to);
  const out: Comparison = { from: q.from, to: q.to, methods: METHODS, sites: main.sites };
  if (q.baseline && q.intervention) {
    const b = await run(q.baseline.from, q.baseline.to);
    const i = await run(q.intervention.from, q.intervention.to);
    const pb = perParticipant(b.days);
    const pi = perParticipant(i.days);
    const sites = [...new Set([...b.sites, ...i.sites].map((s) => s.site))].sort();
    out.baselineVsIntervention = {
      baseline: q.baseline,
      intervention: q.intervention,
      sites: sites.map((site) => {
        const diff = (k: Outcome) => {
          const pairs = [...pb]
            .filter(([id, v]) => v.site === site && pi.has(id) && v[k] !== null && pi.get(id)![k] !== null)
            .map(([id, v]) => [v[k]!, pi.get(id)![k]!] as [number, number]);
          return guard(pairedT(pairs), pairs.length, min);
        };
        return {
          site,
          baseline: b.sites.find((s) => s.site === site) ?? siteMetrics(site, [], [], q.now, min),
          intervention: i.sites.find((s) => s.site === site) ?? siteMetrics(site, [], [], q.now, min),
          difference: {
            completeness: diff('completeness'),
            dailyFluidIntakeMl: diff('dailyFluidIntakeMl'),
            nightToiletVisits: diff('nightToiletVisits'),
            timeInBedHours: diff('timeInBedHours'),
          },
        };
      }),
    };
  }
  return out;
}
