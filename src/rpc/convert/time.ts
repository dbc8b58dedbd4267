/** Epoch milliseconds -> the ISO string ts-proto uses for google.protobuf.Timestamp. */
export function timestamp(ms: number | null | undefined): string | undefined {
  return ms === undefined || ms === null ? undefined : new Date(ms).toISOString();
}

/** The reverse: undefined stays undefined; an unparseable value is the caller's (NaN checked by the domain). */
export function epochMs(ts: string | undefined): number | undefined {
  return ts ? Date.parse(ts) : undefined;
}
