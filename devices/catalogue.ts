// The device catalogue: every kind of welfare-technology device the testbed understands, the
// fields its readings carry, their types, units and plausible ranges, and how often a device of
// that kind is expected to report. Ingest validates against it, monitoring derives "late" and
// "silent" from it, exports document it, simulators generate from it. Change it here only.

export type FieldType = 'boolean' | 'integer' | 'number' | 'string';

export interface FieldSpec {
  readonly type: FieldType;
  readonly description: string;
  readonly unit?: string;
  /** Inclusive plausible range for numbers; a value outside it is dead-lettered as implausible. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values for strings. */
  readonly values?: readonly string[];
  /** A reading of this kind must carry the field. */
  readonly required?: boolean;
}

/**
 * How a kind reports. `heartbeat`: periodic, so a reading is late after `intervalS`.
 * `event`: reports when something happens; real devices of these kinds also send a periodic
 * status (`heartbeatS`), and a device quiet for longer than `maxSilenceS` is silent.
 */
export type Reporting =
  | { readonly mode: 'heartbeat'; readonly intervalS: number; readonly maxSilenceS: number }
  | { readonly mode: 'event'; readonly heartbeatS: number; readonly maxSilenceS: number };

export interface KindSpec {
  readonly kind: string;
  readonly title: string;
  readonly description: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly reporting: Reporting;
  /** Where the reporting defaults come from, for the data dictionary. */
  readonly reportingSource: string;
  /** Real devices of this kind (vendor model), for orientation. */
  readonly examples: readonly string[];
}

const HOUR = 3600;

const bool = (description: string, required = true): FieldSpec => ({ type: 'boolean', description, required });

export const KINDS = {
  hydration: {
    kind: 'hydration',
    title: 'Hydration (smart cup or bottle)',
    description: 'A drinking event measured by a smart cup, glass or bottle (dehydration prevention).',
    fields: {
      intake_ml: {
        type: 'integer',
        unit: 'ml',
        min: 0,
        max: 1000,
        required: true,
        description: 'Volume drunk in this event; 0 on a status-only report.',
      },
      level_ml: {
        type: 'integer',
        unit: 'ml',
        min: 0,
        max: 2000,
        description: 'Volume left in the vessel after the event, where the device measures it.',
      },
    },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 4 * HOUR },
    reportingSource:
      'Smart cups report each sip and an hourly status; 4 h without a drink in daytime is the common dehydration-prevention alert ' +
      'threshold (domain.md, Aarhus AQUATIME trial).',
    examples: ['AQUATIME smart glass', 'Vendor MQTT cups (no Zigbee model upstream)'],
  },
  fall: {
    kind: 'fall',
    title: 'Fall detector (wearable or radar)',
    description: 'A fall detector. `fall` is true while the device reports a fall alarm.',
    fields: {
      fall: bool('A fall is being reported.'),
      state: {
        type: 'string',
        values: ['none', 'suspected', 'fall', 'cancelled'],
        description:
          'Detector state as real devices report it: Heiman fall_warning→suspected, fall_alarm→fall; Tuya maybe_fall→suspected; a ' +
          'resident or carer cancelling → cancelled.',
      },
      presence: bool('Someone is within the radar field (radar detectors only).', false),
      confidence_pct: { type: 'integer', unit: '%', min: 0, max: 100, description: 'Detector confidence, where reported.' },
    },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 6 * HOUR },
    reportingSource:
      'Radar fall detectors (Heiman HS2FD, OWON FDS315, Tuya MIR-HE200) report presence changes and an hourly status; 6 h of silence ' +
      'means the device, not the resident, needs attention.',
    examples: ['Heiman HS2FD-EF1-3.0', 'OWON FDS315', 'Tuya MIR-HE200-TY'],
  },
  incontinence: {
    kind: 'incontinence',
    title: 'Incontinence (moisture) sensor',
    description: 'A moisture sensor in a pad or under a sheet.',
    fields: {
      wet: bool('Moisture detected.'),
      wetness_pct: { type: 'integer', unit: '%', min: 0, max: 100, description: 'Wetness level, where the sensor measures it.' },
    },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 6 * HOUR },
    reportingSource:
      'Water-leak sensors used as incontinence sensors (Aqara SJCGQ11LM, SONOFF SNZB-05P) report changes and a periodic check-in of ' +
      'about an hour.',
    examples: ['Aqara SJCGQ11LM', 'SONOFF SNZB-05P', 'Develco FLSZB-110'],
  },
  bed: {
    kind: 'bed',
    title: 'Bed occupancy',
    description: 'A pressure strap or pad under the mattress.',
    fields: { occupied: bool('Someone is in bed.') },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 20 * HOUR },
    reportingSource:
      'Bed straps (Tuya TS0601 bed presence) report on change; a resident out of bed all day gives long quiet spells, so silence is ' +
      'judged at 20 h.',
    examples: ['Tuya TS0601_bed_presence_sensor', 'HOBEIAN ZG-210Z', 'OWON SPM915'],
  },
  chair: {
    kind: 'chair',
    title: 'Chair occupancy',
    description: 'A pressure pad on a chair or sofa seat.',
    fields: { occupied: bool('Someone is seated.') },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 24 * HOUR },
    reportingSource: 'Seat pads report on change only; a day away from home is normal.',
    examples: ['Tuya TS0601_bed_presence_sensor (on a seat)'],
  },
  door: {
    kind: 'door',
    title: 'Door or cabinet contact',
    description: 'A magnetic contact on a door, cabinet or fridge.',
    fields: { open: bool('The door is open (Zigbee `contact: true` means closed).') },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 24 * HOUR },
    reportingSource:
      'Contact sensors (Aqara MCCGQ11LM, SONOFF SNZB-04) report on change and check in hourly; a door unused for a day is possible.',
    examples: ['Aqara MCCGQ11LM', 'SONOFF SNZB-04', 'IKEA E2013 PARASOLL'],
  },
  motion: {
    kind: 'motion',
    title: 'Motion / presence',
    description: 'A PIR motion or mmWave presence sensor.',
    fields: {
      motion: bool('Motion or presence detected.'),
      illuminance_lux: { type: 'number', unit: 'lx', min: 0, max: 100000, description: 'Ambient light, where measured.' },
    },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 12 * HOUR },
    reportingSource: 'PIR sensors (Aqara RTCGQ11LM, SONOFF SNZB-03) report motion with a 60–90 s blind time and check in hourly.',
    examples: ['Aqara RTCGQ11LM', 'SONOFF SNZB-03', 'IKEA E2134 VALLHORN'],
  },
  toilet: {
    kind: 'toilet',
    title: 'Toilet flush',
    description: 'A flush sensor on the cistern.',
    fields: { flush: bool('The toilet is being flushed.') },
    reporting: { mode: 'event', heartbeatS: 1 * HOUR, maxSilenceS: 16 * HOUR },
    reportingSource:
      'Flush sensors report each flush; more than 16 h without a flush in an occupied home is unusual (UCI ADL homes: several flushes a ' +
      'day).',
    examples: ['UCI ADL flush sensor', 'vibration or water-flow sensors on the cistern'],
  },
  appliance: {
    kind: 'appliance',
    title: 'Appliance use',
    description: 'A smart plug or current sensor on a kettle, toaster, microwave or cooker.',
    fields: {
      on: bool('The appliance is in use.'),
      power_w: { type: 'number', unit: 'W', min: 0, max: 4000, description: 'Power drawn, where the plug measures it.' },
    },
    reporting: { mode: 'heartbeat', intervalS: 10 * 60, maxSilenceS: 1 * HOUR },
    reportingSource: 'Mains smart plugs report power at least every few minutes; they are routers, so 1 h of silence is a fault.',
    examples: ['IKEA E1603 TRÅDFRI plug', 'SONOFF S31 Lite zb'],
  },
  button: {
    kind: 'button',
    title: 'SOS / call button',
    description: 'A wearable or wall-mounted alarm button.',
    fields: {
      action: {
        type: 'string',
        values: ['sos', 'single', 'double', 'hold', 'cancel', 'none'],
        required: true,
        description: 'What was pressed; `none` on a status-only report.',
      },
    },
    reporting: { mode: 'event', heartbeatS: 4 * HOUR, maxSilenceS: 25 * HOUR },
    reportingSource:
      'SOS buttons (Tuya TS0215A_sos, Heiman HS1EB) are sleepy end devices that check in every few hours; Zigbee2MQTT treats 25 h as ' +
      'offline for battery devices.',
    examples: ['Tuya TS0215A_sos', 'Heiman HS1EB', 'Develco SBTZB-110'],
  },
  climate: {
    kind: 'climate',
    title: 'Room climate',
    description: 'Temperature and humidity in a room.',
    fields: {
      temperature_c: { type: 'number', unit: '°C', min: -20, max: 60, required: true, description: 'Air temperature.' },
      humidity_pct: { type: 'number', unit: '%', min: 0, max: 100, description: 'Relative humidity.' },
    },
    reporting: { mode: 'heartbeat', intervalS: 10 * 60, maxSilenceS: 1 * HOUR },
    reportingSource:
      'Climate sensors (SONOFF SNZB-02, Aqara WSDCGQ11LM) report on change of 0.5 °C / 5 % or at least every 10 min to an hour.',
    examples: ['SONOFF SNZB-02P', 'Aqara WSDCGQ11LM', 'Tuya TS0201'],
  },
} as const satisfies Record<string, KindSpec>;

export type Kind = keyof typeof KINDS;
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && Object.hasOwn(KINDS, value);
}

export function kindSpec(kind: Kind): KindSpec {
  return KINDS[kind];
}

/**
 * Quality fields every reading may carry beside its values (`q`). They are stored as fields of
 * the same point, so their names must not clash with any kind's value fields (a test checks).
 */
export const QUALITY_FIELDS = {
  battery: {
    type: 'integer',
    unit: '%',
    min: 0,
    max: 100,
    description: 'Battery charge as the device reports it (often unreliable: prefer voltage where present).',
  },
  voltage_mv: { type: 'integer', unit: 'mV', min: 0, max: 15000, description: 'Battery voltage.' },
  lqi: { type: 'integer', min: 0, max: 255, description: 'Zigbee link quality of the last hop.' },
  rssi_dbm: { type: 'integer', unit: 'dBm', min: -150, max: 20, description: 'Received signal strength, where the radio reports it.' },
} as const satisfies Record<string, FieldSpec>;

export type QualityField = keyof typeof QUALITY_FIELDS;

/** Battery at or below this percentage is "battery-low" for monitoring. */
export const BATTERY_LOW_PCT = 15;
