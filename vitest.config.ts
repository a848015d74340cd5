import { defineConfig } from 'vitest/config';

// Two lanes. `unit`: files that need no server — pure logic and in-process SQLite — run in
// seconds (`npm run test:unit`). `integration`: everything else; those tests start real servers
// (influxd, mosquitto, victoria-metrics, Chromium, and one throwaway PostgreSQL cluster per run,
// test/support/postgres.ts) on free ports. `npm test` runs both. A new test file lands in
// `integration` unless it is listed here.
const UNIT_TESTS = [
  'test/broker/acl.test.ts',
  'test/broker/credentials.test.ts',
  'test/devices/contract.test.ts',
  'test/gateway/outbox.test.ts',
  'test/ingest/line-protocol.test.ts',
  'test/ingest/units.test.ts',
  'test/lib/config.test.ts',
  'test/lib/sql.test.ts',
  'test/lib/timing.test.ts',
  'test/monitor/compare.test.ts',
  'test/simulators/determinism.test.ts',
  'test/simulators/faults.test.ts',
  'test/simulators/replay.test.ts',
  'test/simulators/scenario.test.ts',
  'test/simulators/statistics.test.ts',
  'test/support/metrics.test.ts',
];

// Files run in separate processes so one crashed server cannot poison another file's run; the
// servers need time to start, hence the long timeouts.
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT_TESTS } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: UNIT_TESTS,
          globalSetup: ['test/support/postgres.ts'],
        },
      },
    ],
  },
});
