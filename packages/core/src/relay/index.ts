// The relay's HTTP contract: schemas shared by apps/relay and the extension, and its client.
export * from './client.js';
export * from './schemas.js';
