// `testbed dashboards build --out DIR`: the Grafana dashboards and provisioning files.
// The SDK is loaded only when the command runs.

import type { Command } from 'commander';
import { resolve } from 'node:path';

export function registerDashboardCommands(program: Command): void {
  const cmd = program.command('dashboards').description('Grafana dashboards as code (fleet, completeness, comparison, devices, per kind).');
  cmd
    .command('build')
    .description(
      'Write the dashboards (DIR/dashboards/*.json) and Grafana provisioning ' +
        '(DIR/provisioning/{datasources,dashboards}/testbed.yaml). docker-compose.yml mounts ./dashboards/dist.',
    )
    .option('--out <dir>', 'output folder', 'dashboards/dist')
    .option('--influx-url <url>', 'InfluxDB as Grafana reaches it', 'http://influxdb:8086')
    .option('--influx-db <name>', 'InfluxDB database', 'testbed')
    .option('--api-url <url>', 'the testbed HTTP API as Grafana reaches it', 'http://ingest:8080')
    .action(async (o: { out: string; influxUrl: string; influxDb: string; apiUrl: string }) => {
      const { writeDashboards } = await import('./index.ts');
      const files = writeDashboards(resolve(o.out), { influxUrl: o.influxUrl, influxDb: o.influxDb, apiUrl: o.apiUrl });
      process.stdout.write(`${files.join('\n')}\n`);
    });
}
