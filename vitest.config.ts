import { defineConfig } from 'vitest/config';

// Tests start real servers (influxd, mosquitto, victoria-metrics); give them time and run
// files in separate processes so one crashed server cannot poison another file's run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
