import path from 'node:path';
import type { RelayConfig } from '../config.js';
import { createPostgresStore } from './postgres.js';
import { createSqliteStore } from './sqlite.js';
import type { RelayStore } from './types.js';

/**
 * Opens (and migrates) the store the configuration names: PostgreSQL when `RETALK_DATABASE_URL` is
 * set, else the embedded SQLite database in the data dir.
 */
export async function openStore(config: Pick<RelayConfig, 'dataDir' | 'databaseUrl'>): Promise<RelayStore> {
  if (config.databaseUrl !== undefined) return createPostgresStore({ connectionString: config.databaseUrl });
  return createSqliteStore(path.join(config.dataDir, 'relay.db'));
}
