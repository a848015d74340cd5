// Baseline and intervention periods of a trial, for the before/after comparison. Stored in
// monitor.sqlite (the registry's tables are the registry's); set by a coordinator over the API.

import { ApiError } from '../lib/errors.ts';
import type { MonitorDb } from './db.ts';

export interface Span {
  from: number;
  to: number;
}

export interface TrialPeriods {
  trial: string;
  baseline: Span;
  intervention: Span;
}

const UPSERT =
  'INSERT INTO periods (trial_id, baseline_from, baseline_to, intervention_from, intervention_to, updated_by, updated_at) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trial_id) DO UPDATE SET baseline_from = excluded.baseline_from, ' +
  'baseline_to = excluded.baseline_to, intervention_from = excluded.intervention_from, ' +
  'intervention_to = excluded.intervention_to, updated_by = excluded.updated_by, updated_at = excluded.updated_at';

export class Periods {
  readonly #db: MonitorDb;

  constructor(db: MonitorDb) {
    this.#db = db;
  }

  /** The trial's periods, or undefined when none were set. */
  get(trial: string): TrialPeriods | undefined {
    const p = this.#db.db.prepare('SELECT * FROM periods WHERE trial_id = ?').get(trial) as Record<string, number> | undefined;
    if (!p) return undefined;
    return {
      trial,
      baseline: { from: Number(p.baseline_from), to: Number(p.baseline_to) },
      intervention: { from: Number(p.intervention_from), to: Number(p.intervention_to) },
    };
  }

  /** Sets both periods; ApiError 400 when one ends before it starts. */
  set(trial: string, baseline: Span, intervention: Span, by: string): TrialPeriods {
    if (baseline.to <= baseline.from || intervention.to <= intervention.from) throw new ApiError(400, 'each period needs to > from');
    this.#db.db.prepare(UPSERT).run(trial, baseline.from, baseline.to, intervention.from, intervention.to, by, Date.now());
    return { trial, baseline, intervention };
  }

  /**
   * Baseline and intervention for a comparison: given in full by the caller, else the trial's
   * stored periods, else none (the comparison then has no before/after part).
   */
  forComparison(q: {
    trial?: string | undefined;
    baselineFrom?: number | undefined;
    baselineTo?: number | undefined;
    interventionFrom?: number | undefined;
    interventionTo?: number | undefined;
  }): { baseline?: Span | undefined; intervention?: Span | undefined } {
    const given = (from: number | undefined, to: number | undefined) => (from !== undefined && to !== undefined ? { from, to } : undefined);
    const baseline = given(q.baselineFrom, q.baselineTo);
    const intervention = given(q.interventionFrom, q.interventionTo);
    if (q.trial && !baseline) {
      const stored = this.get(q.trial);
      if (stored) return { baseline: stored.baseline, intervention: stored.intervention };
    }
    return { baseline, intervention };
  }
}
