// simulators/: virtual homes and sites, real-log replay, faults and load. See README.md.
export { Rng } from './prng.ts';
export { PROFILES, DEFAULT_PROFILE, type ResidentProfile } from './profiles.ts';
export { planDay, type DayPlan, type Segment, type Room } from './routine.ts';
export { SimDevice, type DeviceSpec, type RawReading } from './devices.ts';
export {
  loadScenario,
  parseScenario,
  builtInScenarios,
  parseSpeed,
  ScenarioError,
  FAULT_TYPES,
  type Scenario,
  type SiteSpec,
  type HomeSpec,
  type FaultSpec,
  type Speed,
} from './scenario.ts';
export { simulate, simulationInfo, MALFORMED_VARIANTS, type Delivery, type SimulateOptions } from './engine.ts';
export {
  drive,
  ndjsonSink,
  ndjsonLine,
  wireReading,
  MqttSink,
  RAW_BATCH_BASE,
  type Credentials,
  type Item,
  type Progress,
  type Sink,
} from './output.ts';
export { runScenario, streamScenario, type RunScenarioOptions, type RunResult, type StreamScenarioOptions } from './run.ts';
export { parseUciSensors, replayUci, uciDeviceId, type UciParse, type UciEvent, type ReplayUciOptions } from './replay-uci.ts';
export { runLoad, type LoadOptions, type LoadReport } from './load.ts';
