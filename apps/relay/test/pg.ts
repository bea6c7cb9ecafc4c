import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL the tests use: trust auth on 127.0.0.1:5432 (CI and the development machines), or
 * RETALK_TEST_PG_URL. Each test file makes throwaway databases (`retalk_t_…`) and drops exactly
 * those it made; no other database is touched.
 */
export const TEST_PG_URL = process.env.RETALK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when the relay suite runs against PostgreSQL (`RETALK_TEST_STORE=postgres`). */
export const TEST_STORE_IS_POSTGRES = process.env.RETALK_TEST_STORE === 'postgres';

const START_HINT =
  'Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or set RETALK_TEST_PG_URL)';

const made = new Set<string>();

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${new URL(TEST_PG_URL).host} (${error instanceof Error ? error.message : String(error)}). ${START_HINT}`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database for one test and answers its URL. */
export async function createTestDatabase(): Promise<string> {
  const name = `retalk_t_${process.pid}_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  made.add(name);
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops every database this process made (connections still open to them are ended). */
export async function dropTestDatabases(): Promise<void> {
  if (made.size === 0) return;
  const names = [...made];
  made.clear();
  await admin(async (client) => {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
}

const databaseOf = new Map<string, string>();

/**
 * The environment that points a relay (in this process or a child) or the CLI at the store of
 * `dataDir`: the data dir, plus, when the suite runs on PostgreSQL, the data dir's own throwaway
 * database, kept across restarts on that data dir and dropped with the others.
 */
export async function storeEnv(dataDir: string): Promise<Record<string, string>> {
  if (!TEST_STORE_IS_POSTGRES) return { RETALK_DATA_DIR: dataDir };
  let url = databaseOf.get(dataDir);
  if (url === undefined) {
    url = await createTestDatabase();
    databaseOf.set(dataDir, url);
  }
  return { RETALK_DATA_DIR: dataDir, RETALK_DATABASE_URL: url };
}
