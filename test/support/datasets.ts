// Data sets committed with the tests, so a lone clone can run them with nothing beside it.

import { join } from 'node:path';

/** The UCI ADL binary-sensor logs (Ordóñez homes A and B, CC BY 4.0): see test/fixtures/uci-adl/SOURCE.md. */
export const UCI_ADL_DIR = join(import.meta.dirname, '../fixtures/uci-adl');

/** Path of the sensor-event log of home `a` or `b`. */
export function uciSensorsPath(home: 'a' | 'b'): string {
  return join(UCI_ADL_DIR, `Ordonez${home.toUpperCase()}_Sensors.txt`);
}
