import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.js';

// There is no Docker daemon on the development and CI machines, so compose.yaml is never started
// here: this checks its structure (what a deployment of several instances needs) and that the
// environment it gives each relay passes the relay's own configuration check.
const COMPOSE = path.resolve(import.meta.dirname, '../../../compose.yaml');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
  configs?: { source: string; target: string }[];
  healthcheck?: { test: string[] };
}

const compose = parse(fs.readFileSync(COMPOSE, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  configs: Record<string, { content: string }>;
};

/** `${NAME:?message}` and `$${…}` as compose would interpolate them from `values`. */
function interpolate(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(:\?[^}]*)?\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`compose.yaml needs ${name}`);
    return value;
  });
}

describe('compose.yaml (two relays, PostgreSQL, Caddy)', () => {
  const relays = Object.entries(compose.services).filter(([name]) => name.startsWith('relay-'));

  it('runs two relay instances from the relay Dockerfile on one database, one data volume and one signing secret', () => {
    expect(relays.map(([name]) => name)).toEqual(['relay-1', 'relay-2']);
    for (const [, relay] of relays) {
      expect(relay.build?.dockerfile).toBe('apps/relay/Dockerfile');
      expect(fs.existsSync(path.resolve(path.dirname(COMPOSE), relay.build?.dockerfile as string))).toBe(
        true,
      );
      expect(relay.volumes).toContain('relay-data:/data');
      expect(relay.environment?.RETALK_DATA_DIR).toBe('/data');
      expect(relay.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    }
    const envs = relays.map(([, r]) => r.environment as Record<string, string>);
    for (const key of [
      'RETALK_DATABASE_URL',
      'RETALK_SIGNING_SECRET',
      'RETALK_PUBLIC_URL',
      'RETALK_API_KEY',
    ]) {
      expect(envs[0]?.[key]).toBeDefined();
      expect(envs[1]?.[key]).toBe(envs[0]?.[key]);
    }
    expect(envs[0]?.RETALK_DATABASE_URL).toMatch(/^postgres:\/\/retalk:.*@postgres:5432\/retalk$/);
    // Distinct names: leases and metrics tell the instances apart.
    expect(new Set(envs.map((e) => e.RETALK_INSTANCE_ID)).size).toBe(2);
    expect(Object.keys(compose.volumes)).toContain('relay-data');
  });

  it("gives each relay an environment the relay's configuration check accepts", () => {
    const values = {
      RETALK_PROVIDER: 'dashscope',
      RETALK_API_KEY: 'sk-compose-check-0123456789',
      RETALK_ADMIN_TOKEN: 'a'.repeat(32),
      RETALK_SIGNING_SECRET: 'b'.repeat(64),
      POSTGRES_PASSWORD: 'c0ffee',
      RETALK_DOMAIN: 'relay.example.com',
    };
    for (const [, relay] of relays) {
      const env = Object.fromEntries(
        Object.entries(relay.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), values)]),
      );
      const config = loadConfig(env, '/');
      expect(config.databaseUrl).toBe('postgres://retalk:c0ffee@postgres:5432/retalk');
      expect(config.publicUrl).toBe('https://relay.example.com');
      expect(config.dataDir).toBe('/data');
      expect(config.host).toBe('0.0.0.0');
      expect(config.trustProxy).not.toBe(false);
    }
  });

  it('puts PostgreSQL behind a health check and Caddy (TLS) in front of both relays', () => {
    const postgres = compose.services.postgres as Service;
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    const caddy = compose.services.caddy as Service;
    expect(caddy.image).toMatch(/^caddy:/);
    expect(caddy.ports).toEqual(expect.arrayContaining(['80:80', '443:443']));
    const caddyfile = compose.configs[caddy.configs?.[0]?.source as string]?.content as string;
    expect(caddy.configs?.[0]?.target).toBe('/etc/caddy/Caddyfile');
    // Compose turns `$$` into `$`: Caddy reads the site address from its own environment.
    expect(caddyfile).toContain('{$$RETALK_DOMAIN}');
    expect(caddyfile).toMatch(/reverse_proxy relay-1:8787 relay-2:8787/);
    // Server-Sent Events pass unbuffered; a dead instance leaves the rotation.
    expect(caddyfile).toContain('flush_interval -1');
    expect(caddyfile).toContain('health_uri /healthz');
  });
});
