// Every setting of the testbed: its environment variable, its key in the config file, a parser
// that says clearly what is wrong, a default and a description. lib/config.ts loads them (defaults <
// config file < environment < flags) and prints them (`testbed config`).

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, where: string) => T;

const str: Parser<string> = (raw) => raw;
const port: Parser<number> = (raw, where) => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < 0 || n > 65535) throw new ConfigError(`${where}: expected a port number 0–65535, got '${raw}'`);
  return n;
};
const positiveInt: Parser<number> = (raw, where) => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n <= 0) throw new ConfigError(`${where}: expected a positive whole number, got '${raw}'`);
  return n;
};
const nonNegativeInt: Parser<number> = (raw, where) => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${where}: expected a whole number 0 or more, got '${raw}'`);
  return n;
};
const gatewayIdLevel: Parser<string> = (raw, where) => {
  if (raw !== '' && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(raw))
    throw new ConfigError(`${where}: expected lowercase letters, digits and dashes (a topic level), got '${raw}'`);
  return raw;
};
const url: Parser<string> = (raw, where) => {
  if (raw === '') return '';
  try {
    new URL(raw);
  } catch {
    throw new ConfigError(`${where}: expected a URL such as http://127.0.0.1:8086, got '${raw}'`);
  }
  return raw.replace(/\/+$/, '');
};
const databaseUrl: Parser<string> = (raw, where) => {
  if (raw === '') return '';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${where}: expected a PostgreSQL URL such as postgres://user@127.0.0.1:5432/testbed, got '${raw}'`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new ConfigError(`${where}: expected a postgres:// URL (empty: the embedded SQLite registry), got '${u.protocol}'`);
  return raw;
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, where) => {
    if (!(values as string[]).includes(raw)) throw new ConfigError(`${where}: expected one of ${values.join(', ')}, got '${raw}'`);
    return raw as T;
  };
const bool: Parser<boolean> = (raw, where) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${where}: expected true or false, got '${raw}'`);
};

export interface Setting<T> {
  env: string;
  /** Dotted key in the config file. */
  key: string;
  parse: Parser<T>;
  default: T;
  description: string;
}

const setting = <T>(s: Setting<T>) => s;

export const SETTINGS = {
  dataDir: setting({
    env: 'TESTBED_DATA_DIR',
    key: 'dataDir',
    parse: str,
    default: './data',
    description: 'Folder for the embedded stores, spools, credentials and gateway outboxes.',
  }),
  logLevel: setting({
    env: 'TESTBED_LOG_LEVEL',
    key: 'logLevel',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    default: 'info',
    description: 'Log level of the structured (JSON) logs.',
  }),
  mqttHost: setting({
    env: 'TESTBED_MQTT_HOST',
    key: 'mqtt.host',
    parse: str,
    default: '127.0.0.1',
    description: 'Address the broker listens on (0.0.0.0 to accept gateways from the network).',
  }),
  mqttPort: setting({
    env: 'TESTBED_MQTT_PORT',
    key: 'mqtt.port',
    parse: port,
    default: 1884,
    description: 'MQTT over TCP. 1884 by default so that it does not collide with a system Mosquitto on 1883.',
  }),
  mqttTlsPort: setting({
    env: 'TESTBED_MQTT_TLS_PORT',
    key: 'mqtt.tlsPort',
    parse: port,
    default: 8884,
    description: 'MQTT over TLS; only opened when a certificate and key are configured.',
  }),
  mqttTlsCert: setting({
    env: 'TESTBED_MQTT_TLS_CERT',
    key: 'mqtt.tlsCert',
    parse: str,
    default: '',
    description: 'PEM certificate file for the TLS listener.',
  }),
  mqttTlsKey: setting({
    env: 'TESTBED_MQTT_TLS_KEY',
    key: 'mqtt.tlsKey',
    parse: str,
    default: '',
    description: 'PEM private key file for the TLS listener.',
  }),
  mqttWsPort: setting({
    env: 'TESTBED_MQTT_WS_PORT',
    key: 'mqtt.wsPort',
    parse: port,
    default: 8085,
    description: 'MQTT over WebSocket (path /mqtt). 0 disables it.',
  }),
  mqttUrl: setting({
    env: 'TESTBED_MQTT_URL',
    key: 'mqtt.url',
    parse: url,
    default: '',
    description:
      'Broker URL for clients (ingest, gateways) when the broker runs elsewhere, e.g. mqtt://broker:1883. Empty: the local broker.',
  }),
  mqttMaxPacketBytes: setting({
    env: 'TESTBED_MQTT_MAX_PACKET_BYTES',
    key: 'mqtt.maxPacketBytes',
    parse: positiveInt,
    default: 1024 * 1024,
    description: 'Largest MQTT packet the broker accepts; a client sending more is disconnected.',
  }),
  mqttConnectsPerMinute: setting({
    env: 'TESTBED_MQTT_CONNECTS_PER_MINUTE',
    key: 'mqtt.connectsPerMinute',
    parse: positiveInt,
    default: 600,
    description: 'Connection attempts allowed per client address per minute.',
  }),
  ingestUsername: setting({
    env: 'TESTBED_INGEST_USERNAME',
    key: 'ingest.username',
    parse: str,
    default: 'svc-ingest',
    description: 'Service account ingest uses on the broker.',
  }),
  ingestPassword: setting({
    env: 'TESTBED_INGEST_PASSWORD',
    key: 'ingest.password',
    parse: str,
    default: '',
    description:
      'Password of the ingest service account. Empty in `up`: a random one per run. Required when broker and ingest run as separate ' +
      'processes.',
  }),
  monitorUsername: setting({
    env: 'TESTBED_MONITOR_USERNAME',
    key: 'monitor.username',
    parse: str,
    default: 'svc-monitor',
    description: 'Service account for monitoring (reads every gateway topic, publishes alerts).',
  }),
  monitorPassword: setting({
    env: 'TESTBED_MONITOR_PASSWORD',
    key: 'monitor.password',
    parse: str,
    default: '',
    description:
      'Password of the monitoring service account. Empty in `up`: a random one per run. When broker and ingest run as separate ' +
      'processes, set it on both: monitoring runs beside ingest only when it is set.',
  }),
  monitorWebhooks: setting({
    env: 'TESTBED_MONITOR_WEBHOOKS',
    key: 'monitor.webhooks',
    parse: str,
    default: '',
    description:
      'Comma-separated URLs that receive every alert event as a JSON POST (retried with backoff). More can be added over the API.',
  }),
  monitorUtcOffsetMin: setting({
    env: 'TESTBED_MONITOR_UTC_OFFSET_MIN',
    key: 'monitor.utcOffsetMin',
    parse: (raw, where) => {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || n < -720 || n > 840)
        throw new ConfigError(`${where}: expected minutes from UTC (-720…840), got '${raw}'`);
      return n;
    },
    default: 60,
    description:
      'Local time of the sites, minutes from UTC: day boundaries of completeness and the daytime of alert rules (60 = Nordic winter ' +
      'time). Per site over the API.',
  }),
  adminUsername: setting({
    env: 'TESTBED_ADMIN_USERNAME',
    key: 'admin.username',
    parse: str,
    default: 'svc-admin',
    description: 'Service account the registry uses on the broker to send gateway commands (permit join).',
  }),
  adminPassword: setting({
    env: 'TESTBED_ADMIN_PASSWORD',
    key: 'admin.password',
    parse: str,
    default: '',
    description: 'Password of the admin service account. Empty: a random one per run (the API and the broker run in one process).',
  }),
  databaseUrl: setting({
    env: 'TESTBED_DATABASE_URL',
    key: 'database.url',
    parse: databaseUrl,
    default: '',
    description: 'Trial registry in PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/testbed. Empty: registry.sqlite in the data dir.',
  }),
  registryPollMs: setting({
    env: 'TESTBED_REGISTRY_POLL_MS',
    key: 'registry.pollMs',
    parse: positiveInt,
    default: 2000,
    description: 'How often ingest checks the registry for changes made by other processes (assignments, withdrawals).',
  }),
  // Quotas per gateway at ingest (issue 11, docs/security.md).
  ingestDevices: setting({
    env: 'TESTBED_INGEST_DEVICES',
    key: 'ingest.devices',
    parse: oneOf('auto', 'registered', 'any'),
    default: 'auto',
    description:
      "Which devices ingest stores: registered = only the registry's devices that the sending gateway may report (others are " +
      'dead-lettered as unknown_device / foreign_device); any = every device, unattributed unless assigned; auto = registered ' +
      'once the registry has any device, any while it has none.',
  }),
  ingestMaxDevicesPerGateway: setting({
    env: 'TESTBED_INGEST_MAX_DEVICES_PER_GATEWAY',
    key: 'ingest.maxDevicesPerGateway',
    parse: positiveInt,
    default: 500,
    description: 'Distinct device ids one gateway may report within the device memory; a new id beyond it is dead-lettered (device_quota).',
  }),
  ingestDeviceMemoryS: setting({
    env: 'TESTBED_INGEST_DEVICE_MEMORY_S',
    key: 'ingest.deviceMemoryS',
    parse: positiveInt,
    default: 86_400,
    description: "Seconds ingest remembers a gateway's device after its last reading (its quota slot and dedupe window).",
  }),
  ingestMaxReadingsPerS: setting({
    env: 'TESTBED_INGEST_MAX_READINGS_PER_S',
    key: 'ingest.maxReadingsPerS',
    parse: nonNegativeInt,
    default: 5000,
    description:
      'Readings per second per gateway, with a 10 s burst; over it a batch is left unacked and the gateway resends it later. 0: no limit.',
  }),
  deadLetterMaxBytes: setting({
    env: 'TESTBED_DEAD_LETTER_MAX_BYTES',
    key: 'deadLetters.maxBytesPerGateway',
    parse: nonNegativeInt,
    default: 64 * 1024 * 1024,
    description: "Bytes of dead letters (raw payload + reason) kept per gateway; past it that gateway's oldest are dropped. 0: no cap.",
  }),
  deadLetterRetentionDays: setting({
    env: 'TESTBED_DEAD_LETTER_RETENTION_DAYS',
    key: 'deadLetters.retentionDays',
    parse: nonNegativeInt,
    default: 90,
    description: 'Dead letters older than this many days are dropped (counted in testbed_ingest_dead_letters_dropped_total). 0: kept.',
  }),
  monitorPastWindowS: setting({
    env: 'TESTBED_MONITOR_PAST_WINDOW_S',
    key: 'monitor.pastWindowS',
    parse: positiveInt,
    default: 86_400,
    description:
      'A reading measured longer ago than this (seconds) when it arrives opens no fall or wet alert, and a device whose newest ' +
      'reading is that old opens no silence alert: a backlog or a replay cannot open alerts in bulk.',
  }),
  commandTimeoutMs: setting({
    env: 'TESTBED_COMMAND_TIMEOUT_MS',
    key: 'registry.commandTimeoutMs',
    parse: positiveInt,
    default: 10_000,
    description: 'How long the API waits for a gateway to answer a command (permit join) before answering 504.',
  }),
  httpHost: setting({
    env: 'TESTBED_HTTP_HOST',
    key: 'http.host',
    parse: str,
    default: '127.0.0.1',
    description: 'Address the HTTP API listens on.',
  }),
  httpPort: setting({
    env: 'TESTBED_HTTP_PORT',
    key: 'http.port',
    parse: port,
    default: 8080,
    description: 'HTTP API: /health, /metrics, /api/v1, /docs.',
  }),
  influxUrl: setting({
    env: 'TESTBED_INFLUX_URL',
    key: 'influx.url',
    parse: url,
    default: '',
    description: 'InfluxDB base URL. Empty: readings go to the embedded store (SQLite in the data dir).',
  }),
  influxDb: setting({
    env: 'TESTBED_INFLUX_DB',
    key: 'influx.db',
    parse: str,
    default: 'testbed',
    description: 'InfluxDB database (v1 API) or bucket (v2 API).',
  }),
  influxApi: setting({
    env: 'TESTBED_INFLUX_API',
    key: 'influx.api',
    parse: oneOf('v1', 'v2'),
    default: 'v1',
    description: 'Write endpoint: v1 = /write (InfluxDB 1.x, 2.x/3.x compatibility), v2 = /api/v2/write (1.8+, 2.x, 3.x, VictoriaMetrics).',
  }),
  influxOrg: setting({
    env: 'TESTBED_INFLUX_ORG',
    key: 'influx.org',
    parse: str,
    default: '',
    description: 'Organisation for the v2 API.',
  }),
  influxToken: setting({
    env: 'TESTBED_INFLUX_TOKEN',
    key: 'influx.token',
    parse: str,
    default: '',
    description: 'API token (v2) or user:password (v1) for InfluxDB.',
  }),
  // Reads (InfluxQL) go as a user granted READ only, so no query text can write or drop data.
  influxReadUsername: setting({
    env: 'TESTBED_INFLUX_READ_USERNAME',
    key: 'influx.readUsername',
    parse: str,
    default: '',
    description: 'InfluxDB 1.x user with READ on the database only, for queries. Empty: queries use the write credentials.',
  }),
  influxReadPassword: setting({
    env: 'TESTBED_INFLUX_READ_PASSWORD',
    key: 'influx.readPassword',
    parse: str,
    default: '',
    description: 'Password of the read-only InfluxDB user.',
  }),
  influxCreateDb: setting({
    env: 'TESTBED_INFLUX_CREATE_DB',
    key: 'influx.createDb',
    parse: bool,
    default: true,
    description: 'Create the database at start when it is missing (v1 API).',
  }),
  influxBatchSize: setting({
    env: 'TESTBED_INFLUX_BATCH_SIZE',
    key: 'influx.batchSize',
    parse: positiveInt,
    default: 5000,
    description: 'Points per write request.',
  }),
  influxMaxInFlight: setting({
    env: 'TESTBED_INFLUX_MAX_IN_FLIGHT',
    key: 'influx.maxInFlight',
    parse: positiveInt,
    default: 2,
    description: 'Write requests in flight at once.',
  }),
  // The edge gateway (`testbed gateway run`).
  gatewaySite: setting({
    env: 'TESTBED_GATEWAY_SITE',
    key: 'gateway.site',
    parse: gatewayIdLevel,
    default: '',
    description: 'Site id of this gateway (required by `gateway run`).',
  }),
  gatewayId: setting({
    env: 'TESTBED_GATEWAY_ID',
    key: 'gateway.id',
    parse: gatewayIdLevel,
    default: '',
    description: 'Gateway id within the site (required by `gateway run`).',
  }),
  gatewayUsername: setting({
    env: 'TESTBED_GATEWAY_USERNAME',
    key: 'gateway.username',
    parse: str,
    default: '',
    description: 'MQTT username issued by `testbed gateway add`.',
  }),
  gatewayPassword: setting({
    env: 'TESTBED_GATEWAY_PASSWORD',
    key: 'gateway.password',
    parse: str,
    default: '',
    description: 'MQTT password issued by `testbed gateway add`.',
  }),
  gatewayHealthIntervalS: setting({
    env: 'TESTBED_GATEWAY_HEALTH_INTERVAL_S',
    key: 'gateway.healthIntervalS',
    parse: positiveInt,
    default: 60,
    description: 'Seconds between two health messages on …/health.',
  }),
  gatewayOutboxMax: setting({
    env: 'TESTBED_GATEWAY_OUTBOX_MAX',
    key: 'gateway.outboxMax',
    parse: positiveInt,
    default: 1_000_000,
    description:
      'Most readings the gateway outbox holds while the centre is unreachable; beyond, new readings are refused loudly (event ' +
      'outbox_cap_hit).',
  }),
  gatewayDevicesFile: setting({
    env: 'TESTBED_GATEWAY_DEVICES_FILE',
    key: 'gateway.devicesFile',
    parse: str,
    default: '',
    description:
      'YAML/JSON file: Zigbee allow-list and per-device overrides (kind, e.g. a leak sensor used as an incontinence sensor). Re-read by ' +
      'the reload_config command.',
  }),
  zigbeePort: setting({
    env: 'TESTBED_ZIGBEE_PORT',
    key: 'zigbee.port',
    parse: str,
    default: '',
    description: 'Zigbee coordinator: a serial path (/dev/ttyUSB0, /dev/serial/by-id/…) or tcp://host:port. Empty: no Zigbee.',
  }),
  zigbeeAdapter: setting({
    env: 'TESTBED_ZIGBEE_ADAPTER',
    key: 'zigbee.adapter',
    parse: oneOf('zstack', 'ember', 'deconz', 'zigate', 'zboss'),
    default: 'zstack',
    description: 'herdsman adapter driver of the coordinator (always explicit: no USB discovery).',
  }),
  zigbeePermitJoinS: setting({
    env: 'TESTBED_ZIGBEE_PERMIT_JOIN_S',
    key: 'zigbee.permitJoinS',
    parse: nonNegativeInt,
    default: 0,
    description: 'Open a pairing window of this many seconds (at most 254) when the gateway starts; 0 = closed.',
  }),
  zigbeeChannel: setting({
    env: 'TESTBED_ZIGBEE_CHANNEL',
    key: 'zigbee.channel',
    parse: positiveInt,
    default: 15,
    description: 'Zigbee channel (11–26) used when the network is first formed.',
  }),
  localMqttUrl: setting({
    env: 'TESTBED_LOCAL_MQTT_URL',
    key: 'gateway.localMqttUrl',
    parse: url,
    default: '',
    description: 'A broker in the home (e.g. mqtt://127.0.0.1:1883) for Zigbee2MQTT and vendor MQTT devices. Empty: none.',
  }),
  z2mBaseTopic: setting({
    env: 'TESTBED_Z2M_BASE_TOPIC',
    key: 'gateway.z2mBaseTopic',
    parse: str,
    default: '',
    description: 'Read an existing Zigbee2MQTT under this base topic (e.g. zigbee2mqtt) on the local broker. Empty: off.',
  }),
  vendorMqttMap: setting({
    env: 'TESTBED_VENDOR_MQTT_MAP',
    key: 'gateway.vendorMqttMap',
    parse: str,
    default: '',
    description: 'YAML/JSON file mapping vendor MQTT topics and payloads on the local broker to readings. Empty: off.',
  }),
} as const;
