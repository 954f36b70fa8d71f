/** A token bucket: `burst` requests at once, refilled at `perSecond`. Pure, so the guard keeps the state. */
export interface Bucket {
  readonly tokens: number
  readonly at: number
}

export interface Rate {
  readonly perSecond: number
  readonly burst: number
}

/** Takes one token at time `now`; answers the new bucket, or how long to wait (ms) when empty. */
export const take = (rate: Rate, bucket: Bucket, now: number): { readonly bucket: Bucket; readonly waitMillis: number } => {
  const tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) / 1000) * rate.perSecond)
  return tokens >= 1
    ? { bucket: { tokens: tokens - 1, at: now }, waitMillis: 0 }
    : { bucket: { tokens, at: now }, waitMillis: Math.ceil(((1 - tokens) / rate.perSecond) * 1000) }
}

export const fullBucket = (rate: Rate, now: number): Bucket => ({ tokens: rate.burst, at: now })
