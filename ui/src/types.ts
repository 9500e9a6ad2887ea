// Re-export of the shared wire types (src/wire): the shapes of the server's JSON answers that the pages read.

export type * from "../../src/wire/index.ts";
