import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations.js';
import { PG_MIGRATIONS } from '../src/store/migrations-postgres.js';
import { createPostgresStore } from '../src/store/postgres.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { MemberRecord, RelayStore } from '../src/store/types.js';
import { tempDir } from './harness.js';
import { createTestDatabase, dropTestDatabases } from './pg.js';

afterAll(dropTestDatabases);

/** How many steps SQLite's list had before its PostgreSQL-only no-ops (steps 5 and 6) were added. */
const SQLITE_STEPS_BEFORE_ALIGNMENT = 4;

const MEMBER: MemberRecord = {
  id: 'mem_old',
  name: 'old-timer',
  tokenHash: 'hash-old',
  createdAt: 1_700_000_000_000,
  revokedAt: null,
  budgetSeconds: null,
  period: null,
  maxConcurrentJobs: null,
};

function sqliteVersion(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

async function pgQuery(connectionString: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function pgVersion(connectionString: string): Promise<number> {
  const rows = await pgQuery(connectionString, 'SELECT MAX(version) AS v FROM schema_migrations');
  return Number(rows[0]?.v);
}

/** A member written through the store reads back whole: the migrated schema is usable. */
async function roundTrip(store: RelayStore, extra: Partial<MemberRecord> = {}): Promise<void> {
  const m = { ...MEMBER, ...extra };
  await store.createMember(m);
  expect(await store.getMember(m.id)).toMatchObject({ name: m.name, tokenHash: m.tokenHash });
}

describe('the two stores’ schema histories', () => {
  it('number the same steps, so a schema version means the same on SQLite and PostgreSQL', async () => {
    expect(MIGRATIONS.length).toBe(PG_MIGRATIONS.length);

    const file = path.join(tempDir('retalk-migrate-'), 'relay.db');
    const sqlite = createSqliteStore(file);
    await sqlite.close();
    const connectionString = await createTestDatabase();
    const postgres = await createPostgresStore({ connectionString });
    await postgres.close();

    const versions = { sqlite: sqliteVersion(file), postgres: await pgVersion(connectionString) };
    expect(versions).toEqual({ sqlite: PG_MIGRATIONS.length, postgres: PG_MIGRATIONS.length });
  });

  it('opens a SQLite database migrated by the list of 4 steps, keeps its rows, and brings it to the same version', async () => {
    const file = path.join(tempDir('retalk-migrate-'), 'relay.db');
    // The database as a relay of the old list left it: its 4 steps applied, user_version 4.
    const old = new Database(file);
    for (const step of MIGRATIONS.slice(0, SQLITE_STEPS_BEFORE_ALIGNMENT)) old.exec(step);
    old.pragma(`user_version = ${SQLITE_STEPS_BEFORE_ALIGNMENT}`);
    old
      .prepare('INSERT INTO members (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)')
      .run(MEMBER.id, MEMBER.name, MEMBER.tokenHash, MEMBER.createdAt);
    old.close();

    const store = createSqliteStore(file);
    try {
      expect(await store.getMember(MEMBER.id)).toMatchObject({ name: MEMBER.name });
      await roundTrip(store, { id: 'mem_new', name: 'newcomer', tokenHash: 'hash-new' });
    } finally {
      await store.close();
    }
    expect(sqliteVersion(file)).toBe(PG_MIGRATIONS.length);
  });

  it('opens a PostgreSQL database migrated by an older relay (steps 1–4, before the instance steps) and by the current list', async () => {
    // An older relay's database: the first four steps, recorded as that relay recorded them.
    const older = await createTestDatabase();
    const client = new pg.Client({ connectionString: older });
    await client.connect();
    try {
      await client.query(
        'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
      );
      for (let i = 0; i < SQLITE_STEPS_BEFORE_ALIGNMENT; i++) {
        await client.query(PG_MIGRATIONS[i] as string);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2)', [i + 1, Date.now()]);
      }
      await client.query('INSERT INTO members (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)', [
        MEMBER.id,
        MEMBER.name,
        MEMBER.tokenHash,
        MEMBER.createdAt,
      ]);
    } finally {
      await client.end();
    }
    const store = await createPostgresStore({ connectionString: older });
    try {
      expect(await store.getMember(MEMBER.id)).toMatchObject({ name: MEMBER.name });
      expect(store.cluster).toBeDefined();
      // The instance steps ran: a lease table exists and rate windows count.
      expect((await store.cluster?.hitRateWindow('k', 60_000, Date.now()))?.hits).toBe(1);
    } finally {
      await store.close();
    }
    expect(await pgVersion(older)).toBe(PG_MIGRATIONS.length);

    // A database the current list migrated opens again as it is (nothing re-run).
    const current = await createTestDatabase();
    await (await createPostgresStore({ connectionString: current })).close();
    const appliedBefore = await pgQuery(current, 'SELECT version, applied_at FROM schema_migrations');
    const again = await createPostgresStore({ connectionString: current });
    try {
      await roundTrip(again);
    } finally {
      await again.close();
    }
    expect(await pgQuery(current, 'SELECT version, applied_at FROM schema_migrations')).toEqual(
      appliedBefore,
    );
  });
});
