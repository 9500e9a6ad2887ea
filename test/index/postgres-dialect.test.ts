// The kysely dialect over Bun.SQL against a real, throwaway PostgreSQL (initdb in a temp dir).
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { SQL } from "bun";
import { Kysely, sql } from "kysely";
import { BunPostgresDialect } from "../../src/index/postgres-dialect.ts";
import { startPostgres, type TestPostgres } from "../helpers/postgres.ts";

interface Db {
  item: { id: number; name: string; score: number | null; data: unknown };
}

describe("kysely over Bun.SQL on a real PostgreSQL", () => {
  let pg: TestPostgres;
  let db: Kysely<Db>;
  beforeAll(async () => {
    pg = await startPostgres();
    db = new Kysely<Db>({ dialect: new BunPostgresDialect(new SQL(await pg.createDatabase("dialect_test"), { max: 4 })) });
    await db.schema
      .createTable("item")
      .addColumn("id", "bigint", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("score", "double precision")
      .addColumn("data", "jsonb")
      .execute();
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    await pg?.stop();
  });

  it("inserts, updates and reports affected rows", async () => {
    const ins = await db.insertInto("item").values([
      { id: 1, name: "a", score: 0.5, data: { lr: 0.001 } },
      { id: 2, name: "b", score: null, data: { lr: 0.01 } },
    ]).executeTakeFirst();
    expect(ins.numInsertedOrUpdatedRows).toBe(2n);
    const up = await db.updateTable("item").set({ score: 1.5 }).where("id", "=", 2).executeTakeFirst();
    expect(up.numUpdatedRows).toBe(1n);
    const rows = await db.selectFrom("item").selectAll().orderBy("id").execute();
    expect(rows.map((r) => [Number(r.id), r.name, r.score])).toEqual([
      [1, "a", 0.5],
      [2, "b", 1.5],
    ]);
    const lr = await db.selectFrom("item").select(sql<number>`(data->>'lr')::float8`.as("lr")).where("id", "=", 1).executeTakeFirstOrThrow();
    expect(lr.lr).toBe(0.001);
  });

  it("rolls a failed transaction back and keeps a committed one", async () => {
    await expect(
      db.transaction().execute(async (tx) => {
        await tx.insertInto("item").values({ id: 3, name: "c", score: 1, data: null }).execute();
        await tx.insertInto("item").values({ id: 3, name: "dup", score: 1, data: null }).execute(); // primary key clash
      }),
    ).rejects.toThrow();
    expect(await db.selectFrom("item").select("id").where("id", "=", 3).execute()).toEqual([]);
    await db.transaction().execute(async (tx) => {
      await tx.insertInto("item").values({ id: 4, name: "d", score: 2, data: null }).execute();
    });
    expect((await db.selectFrom("item").select("name").where("id", "=", 4).executeTakeFirstOrThrow()).name).toBe("d");
  });

  it("runs transactions on several connections at once without mixing them", async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.transaction().execute(async (tx) => {
          await tx.insertInto("item").values({ id: 100 + i, name: `t${i}`, score: i, data: null }).execute();
          await sql`select pg_sleep(0.01)`.execute(tx);
          if (i % 2) throw new Error("roll back the odd ones");
        }).catch(() => undefined),
      ),
    );
    const ids = (await db.selectFrom("item").select("id").where("id", ">=", 100).orderBy("id").execute()).map((r) => Number(r.id));
    expect(ids).toEqual([100, 102, 104, 106]);
  });
});
