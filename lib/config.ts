// Configuration: the table of settings (lib/settings.ts), loaded with the precedence defaults <
// config file (TESTBED_CONFIG or --config, YAML or JSON) < environment < command-line flags, and
// printed by `testbed config`.

import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, SETTINGS, type Setting } from './settings.ts';

export { ConfigError, SETTINGS } from './settings.ts';

export type SettingName = keyof typeof SETTINGS;
export type Config = { [K in SettingName]: (typeof SETTINGS)[K]['default'] };

function lookup(tree: unknown, dotted: string): unknown {
  let node = tree;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function readConfigFile(path: string): unknown {
  if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
  try {
    return parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
}

/**
 * Loads the configuration. `overrides` are command-line flags (already by setting name).
 * Throws ConfigError naming the variable or key and what was expected.
 */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; file?: string; overrides?: Partial<Config> } = {}): Config {
  const env = options.env ?? process.env;
  const filePath = options.file ?? env.TESTBED_CONFIG;
  const file = filePath ? readConfigFile(resolve(filePath)) : {};
  const known = new Set(Object.values(SETTINGS).map((s) => s.key));
  for (const key of flattenKeys(file)) {
    if (!known.has(key)) throw new ConfigError(`config file ${filePath}: unknown setting '${key}' (see \`testbed config\`)`);
  }
  const config = {} as Record<string, unknown>;
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    let value: unknown = s.default;
    const fromFile = lookup(file, s.key);
    if (fromFile !== undefined && fromFile !== null) value = s.parse(String(fromFile), `${filePath}: ${s.key}`);
    const fromEnv = env[s.env];
    if (fromEnv !== undefined) value = s.parse(fromEnv, s.env);
    const flag = options.overrides?.[name];
    if (flag !== undefined) value = flag;
    config[name] = value;
  }
  return config as Config;
}

function flattenKeys(tree: unknown, prefix = ''): string[] {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) return prefix ? [prefix] : [];
  return Object.entries(tree).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? flattenKeys(v, `${prefix}${k}.`) : [prefix + k],
  );
}

/** A table of every setting with its current value (secrets masked), for `testbed config`. */
export function describeConfig(config: Config): string {
  const rows = (Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]).map(([name, s]) => {
    const value = config[name];
    const shown = /password|token|databaseUrl/i.test(name) && value ? '********' : JSON.stringify(value);
    return `${s.env.padEnd(34)} ${shown.padEnd(28)} ${s.description}`;
  });
  return ['variable                           value                        meaning', ...rows].join('\n');
}
