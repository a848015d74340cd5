import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, describeConfig, ConfigError } from '../../lib/config.ts';
import { tempDir } from '../support/servers.ts';

describe('configuration', () => {
  it('takes defaults, then the file, then the environment, then flags', () => {
    const dir = tempDir();
    const file = join(dir, 'testbed.yaml');
    writeFileSync(file, 'mqtt:\n  port: 2000\nhttp:\n  port: 9000\ninflux:\n  db: fromfile\n');
    const cfg = loadConfig({ file, env: { TESTBED_HTTP_PORT: '9100' }, overrides: { influxDb: 'fromflag' } });
    expect(cfg.mqttPort).toBe(2000);
    expect(cfg.httpPort).toBe(9100);
    expect(cfg.influxDb).toBe('fromflag');
    expect(cfg.dataDir).toBe('./data');
  });
  it.each([
    [{ TESTBED_MQTT_PORT: 'abc' }, /TESTBED_MQTT_PORT: expected a port number 0–65535, got 'abc'/],
    [{ TESTBED_MQTT_PORT: '70000' }, /TESTBED_MQTT_PORT/],
    [{ TESTBED_INFLUX_URL: 'not a url' }, /TESTBED_INFLUX_URL: expected a URL/],
    [{ TESTBED_INFLUX_API: 'v3' }, /TESTBED_INFLUX_API: expected one of v1, v2/],
    [{ TESTBED_INFLUX_CREATE_DB: 'maybe' }, /expected true or false/],
  ])('names the variable and what it expected: %j', (env, message) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(message);
  });
  it('refuses unknown keys and missing files in the config file', () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'mqtt:\n  prot: 1\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/unknown setting 'mqtt.prot'/);
    expect(() => loadConfig({ file: join(dir, 'nope.yaml'), env: {} })).toThrow(/does not exist/);
  });
  it('masks secrets when it prints the configuration', () => {
    const text = describeConfig(loadConfig({ env: { TESTBED_INGEST_PASSWORD: 's3cret-value' } }));
    expect(text).toContain('TESTBED_INGEST_PASSWORD');
    expect(text).not.toContain('s3cret-value');
  });
});
