// Resident profiles: the parameters of a virtual resident's daily routine. Defaults and their
// sources are documented in README.md ("Resident model"); keep the two in step.

export interface ResidentProfile {
  /** Median wake-up time (local clock) and its day-to-day spread. */
  wake: string;
  wakeSdMin: number;
  /** Median time of going to bed and its spread. */
  bedtime: string;
  bedtimeSdMin: number;
  /** Mean volume drunk from the smart cup per day, ml, and the day-to-day spread (fraction of the mean). */
  drinkMlPerDay: number;
  drinkSdFraction: number;
  /** Mean volume of one drinking event, ml. */
  drinkEventMl: number;
  /** Urinations per 24 h (all, day and night), and how many of them fall at night (nocturia). */
  voidsPerDay: number;
  nocturiaPerNight: number;
  /** Probability of going out on a given day, and how long an outing lasts (minutes, min–max). */
  outingProbability: number;
  outingMin: [number, number];
  /** Probability of an afternoon nap (in the armchair unless `napInBed`). */
  napProbability: number;
  napInBed: boolean;
  /** Shower every N days (0: never at home). */
  showerEveryDays: number;
  /** Falls per resident-year, and false fall alarms (cancelled) per detector-year. */
  fallsPerYear: number;
  falseAlarmsPerYear: number;
  /** SOS presses per year not caused by a fall; the share of them that are accidental and cancelled. */
  sosPerYear: number;
  sosAccidentalShare: number;
  /** Probability of pressing SOS after a real fall (when a button is worn). */
  sosAfterFall: number;
  /** Urinary incontinence episodes per 24 h (0: continent). */
  incontinencePerDay: number;
  /** Home-care visits (local clock): the carer opens the door and changes a wet pad. */
  careVisits: string[];
  /** Living-room temperature set point, °C. */
  roomTempC: number;
}

export const DEFAULT_PROFILE: ResidentProfile = {
  wake: '07:00',
  wakeSdMin: 30,
  bedtime: '22:30',
  bedtimeSdMin: 30,
  drinkMlPerDay: 1500,
  drinkSdFraction: 0.15,
  drinkEventMl: 150,
  voidsPerDay: 7,
  nocturiaPerNight: 1,
  outingProbability: 0.6,
  outingMin: [45, 180],
  napProbability: 0.3,
  napInBed: false,
  showerEveryDays: 2,
  fallsPerYear: 0.5,
  falseAlarmsPerYear: 2,
  sosPerYear: 1,
  sosAccidentalShare: 0.5,
  sosAfterFall: 0.5,
  incontinencePerDay: 0,
  careVisits: [],
  roomTempC: 22,
};

/** Built-in profiles a scenario can name (and override field by field). */
export const PROFILES: Record<string, ResidentProfile> = {
  independent: { ...DEFAULT_PROFILE },
  frail: {
    ...DEFAULT_PROFILE,
    wake: '07:30',
    bedtime: '21:30',
    drinkMlPerDay: 1100,
    drinkSdFraction: 0.2,
    drinkEventMl: 120,
    voidsPerDay: 8,
    nocturiaPerNight: 2,
    outingProbability: 0.15,
    outingMin: [30, 90],
    napProbability: 0.7,
    showerEveryDays: 3,
    fallsPerYear: 1.5,
    falseAlarmsPerYear: 3,
    sosPerYear: 3,
    incontinencePerDay: 1,
    careVisits: ['08:00', '12:30', '19:30'],
    roomTempC: 23,
  },
  dependent: {
    ...DEFAULT_PROFILE,
    wake: '08:00',
    bedtime: '20:30',
    drinkMlPerDay: 900,
    drinkSdFraction: 0.25,
    drinkEventMl: 100,
    voidsPerDay: 8,
    nocturiaPerNight: 2.5,
    outingProbability: 0.05,
    outingMin: [30, 60],
    napProbability: 0.9,
    napInBed: true,
    showerEveryDays: 4,
    fallsPerYear: 2,
    falseAlarmsPerYear: 4,
    sosPerYear: 4,
    incontinencePerDay: 3,
    careVisits: ['07:45', '11:30', '16:00', '20:00'],
    roomTempC: 23.5,
  },
};

export const PROFILE_FIELDS = Object.keys(DEFAULT_PROFILE) as (keyof ResidentProfile)[];
