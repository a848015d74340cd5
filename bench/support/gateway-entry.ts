// A minimal entry for the edge gateway: only the gateway's own modules (config, log, gateway/),
// without the CLI. bench/gateway.ts runs it beside `testbed gateway run` to show what the CLI
// adds. (When the CLI imported every role — broker, ingest, HTTP API, registry, simulators,
// monitor — it added ~58 MB: 173 MB against 115 MB; since cli/main.ts loads them lazily, nothing.)
//
//   TESTBED_… node bench/support/gateway-entry.ts
import { loadConfig } from '../../lib/config.ts';
import { logger, setLogLevel } from '../../lib/log.ts';
import { startGateway } from '../../gateway/gateway.ts';

const cfg = loadConfig({});
setLogLevel(cfg.logLevel);
const gw = await startGateway(cfg, { log: logger('gateway') });
const stop = () =>
  void gw.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
