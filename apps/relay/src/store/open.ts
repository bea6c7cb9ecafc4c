import path from 'node:path';
import type { RelayConfig } from '../config.js';
import { createSqliteStore } from './sqlite.js';
import type { RelayStore } from './types.js';

/** Opens (and migrates) the store the configuration names: SQLite in the data dir by default. */
export async function openStore(config: Pick<RelayConfig, 'dataDir'>): Promise<RelayStore> {
  return createSqliteStore(path.join(config.dataDir, 'relay.db'));
}
