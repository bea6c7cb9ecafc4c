import fs from 'node:fs';

// Everything under the data dir is the relay's alone (findings L11): the store holds the link
// signing secret and the files are members' media. Modes are set explicitly, so they hold under any
// umask, and tightened at start for data written by an older relay.
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

function chmodOwned(target: string, mode: number): void {
  try {
    fs.chmodSync(target, mode);
  } catch (error) {
    // Not ours to change (a directory the admin owns, the relay running as another user): the files
    // inside still get owner-only modes.
    const code = (error as { code?: string }).code;
    if (code !== 'EPERM' && code !== 'ENOENT') throw error;
  }
}

/** Creates `dir` (and missing parents) as owner-only, and makes an existing one owner-only. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodOwned(dir, PRIVATE_DIR_MODE);
}

/** Makes `file` owner-only, creating it empty when missing (SQLite then gives its -wal/-shm the same mode). */
export function ensurePrivateFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodOwned(file, PRIVATE_FILE_MODE);
}

/** Makes `file` owner-only if it exists. */
export function restrictFile(file: string): void {
  chmodOwned(file, PRIVATE_FILE_MODE);
}
