import { Ajv, type AnySchema } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { DeferredCompiles } from './deferred.js';

// ajv-formats is CommonJS; under ESM its function arrives as the default export.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

/** The instants a client can mean, and that every layer below (JS Date, the drivers, PostgreSQL) can carry exactly. */
const EARLIEST_DATE = '1970-01-01T00:00:00Z';
const LATEST_DATE = '9999-12-31T23:59:59.999Z';
const [EARLIEST_MS, LATEST_MS] = [Date.parse(EARLIEST_DATE), Date.parse(LATEST_DATE)];

/**
 * `date` and `date-time` as ajv-formats checks them, and also within 1970–9999 once the offset is applied, and
 * readable by `new Date()` (which refuses a leap second or an hours-only offset): services turn them into Dates, so a
 * year 0 or an Invalid Date would otherwise fail in the database as a 500.
 */
function boundedDates(ajv: Ajv): void {
  for (const name of ['date', 'date-time'] as const) {
    const base = ajv.formats[name] as { validate: (s: string) => boolean; compare: (a: string, b: string) => number | undefined };
    ajv.addFormat(name, {
      type: 'string',
      validate: (s: string) => {
        if (!base.validate(s)) return false;
        const ms = Date.parse(s);
        return ms >= EARLIEST_MS && ms <= LATEST_MS;
      },
      compare: base.compare,
    });
  }
}

function makeAjv(coerce: boolean, shared: AnySchema[]): Ajv {
  // verbose: errors carry their schema, whose `errorMessage` words a failed pattern (see http/errors.ts).
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    verbose: true,
  });
  addFormats(ajv);
  boundedDates(ajv);
  for (const s of shared) ajv.addSchema(s);
  return ajv;
}

export interface ValidatorCompilers {
  compiler: FastifySchemaCompiler<AnySchema>;
  strict: Ajv;
  /** The route validators and serializers not built yet (http/server.ts warms them once the app listens). */
  deferred: DeferredCompiles;
}

type Validator = ReturnType<FastifySchemaCompiler<AnySchema>> & { errors?: unknown };

/**
 * Bodies are validated strictly (a number is not a string); query strings and params are coerced, since they arrive
 * as text. The strict one also validates socket payloads: one set per app, built once.
 */
export function createValidatorCompiler(shared: AnySchema[]): ValidatorCompilers {
  const strict = makeAjv(false, shared);
  const coercing = makeAjv(true, shared);
  const deferred = new DeferredCompiles();
  const compiler: FastifySchemaCompiler<AnySchema> = ({ schema, httpPart }) => {
    const get = deferred.lazy(() => (httpPart === 'body' ? strict : coercing).compile(schema) as Validator);
    // Fastify reads `errors` off the function it was given, after a call that returned false.
    const validate = ((data: unknown) => {
      const v = get();
      const ok = v(data);
      validate.errors = v.errors;
      return ok;
    }) as Validator;
    return validate;
  };
  return { compiler, strict, deferred };
}

let standalone: Ajv | undefined;

/**
 * A strict validator for input that does not arrive as a JSON body but must meet the same schema (the fields of a
 * multipart message). Throws VALIDATION_FAILED shaped like Fastify's own body validation errors.
 */
export function compileStrict<T>(schema: AnySchema): (value: unknown) => T {
  standalone ??= makeAjv(false, []);
  const validate = standalone.compile(schema);
  return (value) => {
    if (!validate(value))
      throw Object.assign(new Error('validation failed'), { validation: validate.errors ?? [], validationContext: 'body' });
    return value as T;
  };
}
