import { Ajv, type AnySchema } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; under ESM its function arrives as the default export.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

function makeAjv(coerce: boolean, shared: AnySchema[]): Ajv {
  // verbose: errors carry their schema, whose `errorMessage` words a failed pattern (see http/errors.ts).
  const ajv = new Ajv({ coerceTypes: coerce ? 'array' : false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false, verbose: true });
  addFormats(ajv);
  for (const s of shared) ajv.addSchema(s);
  return ajv;
}

export interface ValidatorCompilers {
  compiler: FastifySchemaCompiler<AnySchema>;
  strict: Ajv;
}

/**
 * Bodies are validated strictly (a number is not a string); query strings and params are coerced, since they arrive
 * as text. The strict one also validates socket payloads: one set per app, built once.
 */
export function createValidatorCompiler(shared: AnySchema[]): ValidatorCompilers {
  const strict = makeAjv(false, shared);
  const coercing = makeAjv(true, shared);
  const compiler: FastifySchemaCompiler<AnySchema> = ({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema) as ReturnType<FastifySchemaCompiler<AnySchema>>;
  return { compiler, strict };
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
    if (!validate(value)) throw Object.assign(new Error('validation failed'), { validation: validate.errors ?? [], validationContext: 'body' });
    return value as T;
  };
}
