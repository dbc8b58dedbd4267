/** Small proto <-> domain helpers shared by the service files. */

/** Epoch milliseconds -> the ISO string ts-proto uses for google.protobuf.Timestamp. */
export function timestamp(ms: number | undefined): string | undefined {
  return ms === undefined || ms === null ? undefined : new Date(ms).toISOString();
}

/** Maps a proto enum number to a domain name; an unknown number becomes a string the domain rejects. */
export function enumToDomain<T extends string>(value: number, names: Record<number, T>): T | string | undefined {
  if (value === 0) return undefined;
  return names[value] ?? `unknown enum value ${value}`;
}

/** The reverse of `enumToDomain`. */
export function enumFromDomain<T extends string>(value: T, names: Record<number, T>): number {
  for (const [k, v] of Object.entries(names)) if (v === value) return Number(k);
  return 0;
}
