/**
 * Sends one read statement straight to the database's pipelined connections, past Kysely's
 * connection chain: the rows, or undefined when this statement cannot go that way (then run it
 * through Kysely as usual).
 */
export type DirectRead = (sql: string, parameters: readonly unknown[]) => Promise<unknown[] | undefined>;

// Kept apart from the PostgreSQL code, which only PostgreSQL workspaces load (pg's start-up cost).
const direct = new WeakMap<object, DirectRead>();

/** openPostgres registers its Kysely instance (a transaction or any other instance is not registered). */
export function registerDirectReads(db: object, read: DirectRead): void {
  direct.set(db, read);
}

export function directReadsOf(db: object): DirectRead | undefined {
  return direct.get(db);
}
