// Every wire type (type-only): the shapes of the JSON answers the API sends and the UI reads.

export type * from "./runs.ts";
export type * from "./metrics.ts";
export type * from "./system.ts";
export type * from "./remote.ts";
export type * from "./live.ts";
export type * from "./fleet.ts";
