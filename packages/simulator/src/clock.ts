/** A clock the simulator and its tests share: a base time source plus a forward offset. */
export interface SimClock {
  now(): number;
  advance(ms: number): void;
}

export function createClock(base: () => number = Date.now): SimClock {
  let offsetMs = 0;
  return {
    now: () => base() + offsetMs,
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`advanceTime(ms): ms must be a finite number >= 0, got ${ms}`);
      }
      offsetMs += ms;
    },
  };
}

export const SECOND_MS = 1000;
export const HOUR_MS = 3_600_000;

// DashScope prints task times without a zone; they are presumably Beijing time (UTC+8).
const BEIJING_OFFSET_MS = 8 * HOUR_MS;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function beijingParts(ms: number) {
  const d = new Date(ms + BEIJING_OFFSET_MS);
  return {
    y: d.getUTCFullYear(),
    mo: pad(d.getUTCMonth() + 1),
    d: pad(d.getUTCDate()),
    h: pad(d.getUTCHours()),
    mi: pad(d.getUTCMinutes()),
    s: pad(d.getUTCSeconds()),
    ms: pad(d.getUTCMilliseconds(), 3),
  };
}

/** `YYYY-MM-DD HH:mm:ss.SSS` in Beijing time, as DashScope's task output shows it. */
export function toDashscopeTime(ms: number): string {
  const p = beijingParts(ms);
  return `${p.y}-${p.mo}-${p.d} ${p.h}:${p.mi}:${p.s}.${p.ms}`;
}

/** `YYYY-MM-DD` in Beijing time (the date folder of an OSS upload dir). */
export function toBeijingDate(ms: number): string {
  const p = beijingParts(ms);
  return `${p.y}-${p.mo}-${p.d}`;
}

/** Parses DashScope's list filter format `YYYYMMDDhhmmss` (Beijing time) to epoch ms. */
export function parseCompactBeijingTime(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s) - BEIJING_OFFSET_MS;
}

/** ISO 8601 with the +08:00 offset EvoLink's file API uses, e.g. `2025-10-09T00:00:00+08:00`. */
export function toEvolinkIso(ms: number): string {
  const p = beijingParts(ms);
  return `${p.y}-${p.mo}-${p.d}T${p.h}:${p.mi}:${p.s}+08:00`;
}
