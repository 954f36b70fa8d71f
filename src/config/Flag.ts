/**
 * A flag of the command line: declared once (name, env var, rule, help), its
 * value checked by a Schema, a bad one refused with the flag's name, the
 * value and the rule, in words.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Config, Effect, type Option, ParseResult, Schema } from "effect"

/** The rules a value broke, on one line, no tree drawing: `expected a port: a plain decimal number from 0 to 65535`. */
export const describeIssue = (error: ParseResult.ParseError): string =>
  [...new Set(ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => issue.message))].join("; ")

/** Decodes `raw` or refuses it as `<what> "<raw as shown>": <rule>` (exit 2). */
export const checked = <A>(what: string, schema: Schema.Schema<A, string>, show: (raw: string) => string = (raw) => raw) =>
(raw: string) =>
  Effect.mapError(Schema.decode(schema)(raw), (error) => HelpDoc.p(`${what} ${JSON.stringify(show(raw))}: ${describeIssue(error)}`))

/** Digits only: `0x10`, `2e4`, ` 5 ` or `5.0` are refused, not read as numbers. */
export const PlainDecimal = Schema.compose(
  Schema.String.pipe(Schema.pattern(/^(0|[1-9][0-9]{0,15})$/, { message: () => "expected a plain decimal number" })),
  Schema.NumberFromString
)

/**
 * `--name VALUE`, checked by `schema`, else (with `env`) that env var;
 * `None` when neither is given.
 */
export const flag = <A>(
  name: string,
  options: {
    readonly schema: Schema.Schema<A, string>
    /** What the value is, in help: `PORT`. */
    readonly value: string
    readonly about: string
    readonly env?: string
    /** The value as a refusal shows it (a secret in it hidden). */
    readonly show?: (raw: string) => string
  }
): Options.Options<Option.Option<A>> => {
  const { env } = options
  const declared = Options.text(name).pipe(
    Options.withPseudoName(options.value),
    Options.withDescription(env === undefined ? options.about : `${options.about} (env ${env})`)
  )
  return (env === undefined ? declared : Options.withFallbackConfig(declared, Config.string(env))).pipe(
    Options.mapEffect((raw) => Effect.mapError(checked(`--${name}`, options.schema, options.show)(raw), ValidationError.invalidValue)),
    Options.optional
  )
}
