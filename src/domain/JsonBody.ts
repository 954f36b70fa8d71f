/**
 * The JSON body of a sealed Redis entry, through its Schema: encoded once
 * for writing, decoded with the reason as text for the count of skipped entries.
 */
import { Either, Schema } from "effect"

export interface JsonBody<A> {
  readonly encode: (value: A) => string
  readonly decode: (body: string) => Either.Either<A, string>
}

export const jsonBody = <A, I>(schema: Schema.Schema<A, I>): JsonBody<A> => {
  const json = Schema.parseJson(schema)
  const decode = Schema.decodeUnknownEither(json)
  return {
    encode: Schema.encodeSync(json),
    decode: (body) => Either.mapLeft(decode(body), (e) => e.message)
  }
}
