// The team server's PostgreSQL schema: migrations in code, applied in order under an advisory lock, so
// several replicas starting at once migrate the database exactly once.
import { SQL } from "bun";

/** Each entry moves the schema one version up; never edit a shipped entry, append a new one. */
const MIGRATIONS: string[] = [
  `create table team_run (
     run_id text primary key,
     path text not null,
     meta jsonb not null default '{}'::jsonb,
     status jsonb not null default '{}'::jsonb,
     summary jsonb not null default '{}'::jsonb,
     assets jsonb not null default '{}'::jsonb,
     created_by text,
     last_seq bigint not null default 0,
     total_rows bigint not null default 0,
     created_at double precision not null,
     updated_at double precision not null,
     deleted_at double precision,
     list_json text not null default ''
   );
   create index team_run_created on team_run (created_at desc, run_id);
   create table team_metric_chunk (
     run_id text not null references team_run(run_id) on delete cascade,
     level integer not null,
     id integer not null,
     rows integer not null,
     first_step double precision not null,
     last_step double precision not null,
     min_time double precision,
     max_time double precision,
     stats text,
     data bytea not null,
     primary key (run_id, level, id)
   );
   create table team_log_line (
     run_id text not null references team_run(run_id) on delete cascade,
     seq bigint not null,
     n integer not null,
     line text not null,
     primary key (run_id, seq, n)
   );
   create table team_run_line (
     run_id text not null references team_run(run_id) on delete cascade,
     kind text not null,
     seq bigint not null,
     n integer not null,
     line jsonb not null,
     primary key (run_id, kind, seq, n)
   );
   create table team_media (
     run_id text not null references team_run(run_id) on delete cascade,
     name text not null,
     size bigint not null,
     stored_at double precision not null,
     primary key (run_id, name)
   );
   create table team_token (
     id serial primary key,
     name text not null,
     hash text not null unique,
     created_at double precision not null,
     revoked_at double precision
   );`,
  // the filter language's config.* (from assets.json, as the file mode builds it) and metric.<key>.<stat> fields;
  // why a run is in the recycle bin; list_version: bumped whenever a run's list item or deletion changes, so a
  // replica can tell in one cheap query whether its copy of the whole run list is current; team_pref: each
  // token name's UI preferences (column widths, dismissed alerts)
  `alter table team_run add column config jsonb not null default '{}'::jsonb;
   alter table team_run add column metrics jsonb not null default '{}'::jsonb;
   alter table team_run add column delete_reason text;
   create sequence team_list_version;
   alter table team_run add column list_version bigint not null default nextval('team_list_version');
   create index team_run_list_version on team_run (list_version);
   create table team_pref (who text primary key, prefs jsonb not null default '{}'::jsonb);
   update team_run set list_json = replace(list_json, '"path":""', '"path":null') where path = '';`,
];

/** Latest schema version this build knows. */
export const TEAM_SCHEMA_VERSION = MIGRATIONS.length;

/** Opens a pool on `url` and brings the schema up to date (refuses a database newer than this build). */
export async function openTeamDb(url: string, max = 16): Promise<SQL> {
  const sql = new SQL({ url, max });
  try {
    await migrate(sql);
  } catch (e) {
    await sql.close();
    throw e;
  }
  return sql;
}

async function migrate(sql: SQL): Promise<void> {
  await sql.begin(async (tx) => {
    // one migrating replica at a time; the lock ends with the transaction
    await tx`select pg_advisory_xact_lock(2319019)`;
    await tx`create table if not exists team_schema (version integer not null)`;
    const rows = (await tx`select version from team_schema`) as { version: number }[];
    let version = rows.length ? rows[0].version : 0;
    if (!rows.length) await tx`insert into team_schema (version) values (0)`;
    if (version > TEAM_SCHEMA_VERSION) {
      throw new Error(`the database's schema (version ${version}) is newer than this runicorn (${TEAM_SCHEMA_VERSION}): upgrade runicorn`);
    }
    for (; version < TEAM_SCHEMA_VERSION; version++) {
      await tx.unsafe(MIGRATIONS[version]);
      await tx`update team_schema set version = ${version + 1}`;
    }
  });
}
