/**
 * The relay's queue of jobs waiting for the provider, fair across members: each member's jobs go
 * in the order they came, and the next job is always the oldest of the member served longest ago.
 * One member's batch of 40 therefore does not starve a colleague's single job: it goes out right
 * after the batch's current one, not after the other 39.
 */
export interface FairQueue {
  /** Adds a job at the end of its member's line. */
  push(jobId: string, memberId: string): void;
  /**
   * Puts a job back at the head of its member's line, as if it had not been taken (a submit that
   * must wait, e.g. after a 429): its member's turn is not spent. Jobs put back newest first (as
   * the relay does) give their line its place back exactly, so a colleague who queued meanwhile and
   * would have gone first still does; a job put back out of that order goes before everyone.
   */
  pushFront(jobId: string, memberId: string): void;
  /** Takes the next job, or undefined when none waits. */
  shift(): string | undefined;
  /** Drops a waiting job (canceled); false when it was not queued. */
  remove(jobId: string): boolean;
  /** The job ids in the order they would be taken (for stats and tests). */
  peekOrder(): string[];
  readonly length: number;
}

interface Line {
  jobs: string[];
  /** When this member was last served (a counter); -1 for never. */
  servedAt: number;
  /** When this line last went from empty to waiting, so members with equal turns go by arrival. */
  waitingSince: number;
  /** The jobs this line gave most recently, newest last, each with the line's place before it did. */
  taken: { jobId: string; servedAt: number; waitingSince: number }[];
}

/** True when `a` is served before `b`: served longest ago, then waiting longest. */
const before = (a: Line, b: Line): boolean =>
  a.servedAt < b.servedAt || (a.servedAt === b.servedAt && a.waitingSince < b.waitingSince);

/** How many given jobs a line remembers its place for (one pass of the relay's pump puts back fewer). */
const TAKEN_KEPT = 16;

function nextOf(lines: Iterable<Line>): Line | undefined {
  let best: Line | undefined;
  for (const line of lines) if (line.jobs.length > 0 && (!best || before(line, best))) best = line;
  return best;
}

export function createFairQueue(): FairQueue {
  // One line per member who ever queued here (a team's members: a small, bounded map); an empty
  // line keeps its member's last turn, so their next job does not jump ahead of colleagues.
  const lines = new Map<string, Line>();
  const memberOf = new Map<string, string>();
  let clock = 0;
  let size = 0;

  const add = (jobId: string, memberId: string, front: boolean): Line | undefined => {
    if (memberOf.has(jobId)) return undefined;
    let line = lines.get(memberId);
    if (!line) {
      line = { jobs: [], servedAt: -1, waitingSince: 0, taken: [] };
      lines.set(memberId, line);
    }
    if (line.jobs.length === 0) line.waitingSince = ++clock;
    if (front) line.jobs.unshift(jobId);
    else line.jobs.push(jobId);
    memberOf.set(jobId, memberId);
    size++;
    return line;
  };

  return {
    push(jobId, memberId) {
      add(jobId, memberId, false);
    },
    pushFront(jobId, memberId) {
      const line = add(jobId, memberId, true);
      if (!line) return;
      const taken = line.taken.at(-1);
      if (taken?.jobId === jobId) {
        // Its turn was not spent: the line is where it stood before it gave this job.
        line.taken.pop();
        line.servedAt = taken.servedAt;
        line.waitingSince = taken.waitingSince;
        return;
      }
      // Given longer ago (its line gave others since): it goes before anyone else.
      let first = line.servedAt;
      for (const other of lines.values()) first = Math.min(first, other.servedAt);
      line.servedAt = first - 1;
    },
    shift() {
      const line = nextOf(lines.values());
      if (!line) return undefined;
      const jobId = line.jobs.shift() as string;
      line.taken.push({ jobId, servedAt: line.servedAt, waitingSince: line.waitingSince });
      // Only the jobs of one pump pass come back; older ones were sent.
      if (line.taken.length > TAKEN_KEPT) line.taken.shift();
      line.servedAt = ++clock;
      memberOf.delete(jobId);
      size--;
      return jobId;
    },
    remove(jobId) {
      const memberId = memberOf.get(jobId);
      if (memberId === undefined) return false;
      const line = lines.get(memberId) as Line;
      line.jobs.splice(line.jobs.indexOf(jobId), 1);
      memberOf.delete(jobId);
      size--;
      return true;
    },
    peekOrder() {
      const copies = [...lines.values()].map((l) => ({ ...l, jobs: [...l.jobs] }));
      const out: string[] = [];
      for (let t = clock, line = nextOf(copies); line; line = nextOf(copies)) {
        out.push(line.jobs.shift() as string);
        line.servedAt = ++t;
      }
      return out;
    },
    get length() {
      return size;
    },
  };
}
