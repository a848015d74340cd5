// Real servers for tests: each starts on free loopback ports with its data in a temp folder,
// is checked to answer before the test goes on, and fails loudly (never skips) when it cannot
// start. Stop what you start: every handle has stop(), and kill() for fault tests.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, createConnection as netConnect } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { sleep } from '../../lib/timeout.ts';

/** A port that was free a moment ago (bound to port 0 on loopback, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

export function tempDir(prefix = 'testbed-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const result = await probe();
      if (result !== undefined && result !== false) return result;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface ServerHandle {
  port: number;
  url: string;
  dir: string;
  proc: ChildProcess;
  /** Graceful stop; keeps the data dir when `keepData` (for restarts). */
  stop(keepData?: boolean): Promise<void>;
  /** SIGKILL, for fault tests. */
  kill(): Promise<void>;
  /** Start again on the same port and data dir (after stop(true) or kill()). */
  restart(): Promise<void>;
  output(): string;
}

function requireBinary(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} not found: install the Debian package '${pkg}' (.ci/run does this)`);
}

async function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
}

async function startProcess(opts: {
  name: string;
  command: string;
  args: string[];
  port: number;
  dir: string;
  ready: (port: number) => Promise<boolean>;
  /** Extra spawn options (another user, environment, working directory). */
  spawn?: SpawnOptions;
  /** The signal that stops the server gracefully; SIGTERM unless it means something slower. */
  stopSignal?: NodeJS.Signals;
}): Promise<ServerHandle> {
  let log = '';
  let proc!: ChildProcess;
  const launch = async () => {
    proc = spawn(opts.command, opts.args, { ...opts.spawn, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d) => (log = (log + d).slice(-20_000)));
    proc.stderr?.on('data', (d) => (log = (log + d).slice(-20_000)));
    await waitFor(
      `${opts.name} on 127.0.0.1:${opts.port}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`${opts.name} exited with ${proc.exitCode}: ${log.slice(-2000)}`);
        return opts.ready(opts.port);
      },
      30_000,
    );
  };
  await launch();
  const handle: ServerHandle = {
    port: opts.port,
    url: `http://127.0.0.1:${opts.port}`,
    dir: opts.dir,
    get proc() {
      return proc;
    },
    async stop(keepData = false) {
      proc.kill(opts.stopSignal ?? 'SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited(proc);
      clearTimeout(timer);
      if (!keepData) rmSync(opts.dir, { recursive: true, force: true });
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      await launch();
    },
    output: () => log,
  };
  return handle;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.status < 500;
  } catch {
    return false;
  }
}

/** InfluxDB 1.x (Debian `influxdb`), HTTP on a free port, data under a temp dir; `auth`: auth-enabled (create the admin first). */
export async function startInfluxd(opts: { auth?: boolean } = {}): Promise<ServerHandle> {
  requireBinary('/usr/bin/influxd', 'influxdb');
  const dir = tempDir('testbed-influxd-');
  const port = await freePort();
  const rpcPort = await freePort();
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  auth-enabled = ${opts.auth === true}
  max-body-size = 0
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
`,
  );
  return startProcess({
    name: 'influxd',
    command: '/usr/bin/influxd',
    args: ['run', '-config', conf],
    port,
    dir,
    ready: (p) => pingInflux(p),
  });
}

async function pingInflux(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.status === 204;
  } catch {
    return false;
  }
}

/** VictoriaMetrics (Debian `victoria-metrics`): a real peer for the /api/v2/write path. */
export async function startVictoriaMetrics(): Promise<ServerHandle> {
  requireBinary('/usr/bin/victoria-metrics', 'victoria-metrics');
  const dir = tempDir('testbed-vm-');
  const port = await freePort();
  return startProcess({
    name: 'victoria-metrics',
    command: '/usr/bin/victoria-metrics',
    args: [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${dir}`,
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-search.latencyOffset=0s',
    ],
    port,
    dir,
    ready: (p) => httpOk(`http://127.0.0.1:${p}/health`),
  });
}

/** Mosquitto (Debian `mosquitto`) on a free port, anonymous, for ingest-against-Mosquitto tests. */
export async function startMosquitto(): Promise<ServerHandle> {
  requireBinary('/usr/sbin/mosquitto', 'mosquitto');
  const dir = tempDir('testbed-mosquitto-');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`);
  return startProcess({
    name: 'mosquitto',
    command: '/usr/sbin/mosquitto',
    args: ['-c', conf],
    port,
    dir,
    ready: (p) =>
      new Promise((resolve) => {
        const sock = createConnection(p);
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
      }),
  });
}

/** A throwaway PostgreSQL cluster: `adminUrl` connects as the superuser to the `postgres` database. */
export interface PostgresHandle extends ServerHandle {
  adminUrl: string;
}

/**
 * PostgreSQL (Debian `postgresql`): initdb into a temp dir, the server on a free loopback port
 * with its Unix socket in that dir (never the system's /var/run/postgresql), password auth.
 * initdb and postgres refuse to run as root, so under root (CI) both run as the `postgres` user
 * the Debian package creates, and the temp dir is handed to it. fsync is off: a test cluster
 * must survive a process crash, not a power cut, and it is deleted at stop().
 */
export async function startPostgres(): Promise<PostgresHandle> {
  const bin = postgresBinDir();
  const dir = tempDir('testbed-pg-');
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`);
  const owner = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  if (owner) for (const path of [dir, pwfile]) chownSync(path, owner.uid, owner.gid);
  const spawnOptions = { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8' }, ...owner };
  const data = join(dir, 'data');
  const initdb = ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '-N'];
  await promisify(execFile)(join(bin, 'initdb'), initdb, spawnOptions).catch((err: Error & { stderr?: string }) => {
    throw new Error(`initdb failed: ${err.stderr || err.message}`);
  });
  // freePort() only says a port was free a moment ago: when another process takes it first,
  // postgres exits with "could not bind", and a new port is tried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    try {
      const handle = await startProcess({
        name: 'postgres',
        command: join(bin, 'postgres'),
        args: ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
        port,
        dir,
        ready: () => servesDataDir(adminUrl, data),
        spawn: spawnOptions,
        // SIGTERM is a "smart" shutdown that waits for every client to leave; SIGINT ends them.
        stopSignal: 'SIGINT',
      });
      return Object.assign(handle, { adminUrl });
    } catch (err) {
      if (attempt >= 3 || !/could not bind/.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

/** The newest PostgreSQL server's binaries, /usr/lib/postgresql/<major>/bin (Debian's layout). */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (majors.length === 0) throw new Error(`${root}/*/bin/initdb not found: install the Debian package 'postgresql' (.ci/run does this)`);
  const newest = majors.sort((a, b) => Number(a) - Number(b)).at(-1) as string;
  return join(root, newest, 'bin');
}

function systemUser(name: string): { uid: number; gid: number } {
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8' });
  } catch {
    throw new Error(
      `running as root, and initdb refuses root: no '${name}' user to run it as (the Debian package 'postgresql' creates it)`,
    );
  }
  const [, , uid, gid] = entry.trim().split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** True when the server on `url` is ours: it accepts our password and serves our data dir. */
async function servesDataDir(url: string, dataDir: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(`SELECT current_setting('data_directory') AS dir`);
    if (rows[0]?.dir !== dataDir) throw new Error(`127.0.0.1 answers with another cluster (${rows[0]?.dir}), not ${dataDir}`);
    return true;
  } catch (err) {
    if (String(err).includes('another cluster')) throw err;
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function createConnection(port: number) {
  return netConnect({ port, host: '127.0.0.1' });
}

/** Runs an InfluxQL query against a v1 endpoint and returns the rows of the first series. */
export async function influxQuery(baseUrl: string, db: string, q: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${baseUrl}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { results?: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[] };
  const result = body.results?.[0];
  if (result?.error) throw new Error(result.error);
  const rows: Record<string, unknown>[] = [];
  for (const series of result?.series ?? []) {
    for (const values of series.values) rows.push(Object.fromEntries(series.columns.map((c, i) => [c, values[i]])));
  }
  return rows;
}
