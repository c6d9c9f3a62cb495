/**
 * JSON Schema (TypeBox's, or the OpenAPI document's) as a compact TypeScript-like shape for docs/api.md:
 *   { id: string; content?: string; // ≤ 10000 characters }
 * Constraints and descriptions become comments, so a reader sees what a validator would refuse without reading
 * JSON Schema. References print as their component's name (Message, Room…), which the reference describes once.
 */

import { PLAIN_TEXT, USER_ID_PATTERN } from '../../src/contract/common.js';

export type Schema = Record<string, unknown>;

/**
 * The contract's patterns in words (a regex of Unicode ranges tells a reader little); one not listed here prints as it
 * is. The exported ones by name, the others as written in src/contract.
 */
const PATTERN_WORDS: Record<string, string> = {
  [USER_ID_PATTERN]: 'no control characters',
  [PLAIN_TEXT]: 'no control characters but \\n, \\r, \\t',
  '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$': 'no control characters',
  '^(?!\\s*$)[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$': 'one line, not blank',
  '^[A-Za-z0-9_-]+={0,2}$': 'base64url',
  '^[\\x21-\\x7e]+$': 'printable ASCII without spaces',
};

const INDENT = '  ';

/** The component a `$ref` names: `#/components/schemas/Message` and TypeBox's `Message` alike. */
export function refName(ref: string): string {
  return ref.split('/').pop()!;
}

function asSchema(value: unknown): Schema | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Schema) : undefined;
}

function literals(schema: Schema): unknown[] | undefined {
  if ('const' in schema) return [schema['const']];
  if (Array.isArray(schema['enum'])) return schema['enum'];
  return undefined;
}

function unionMembers(schema: Schema): Schema[] | undefined {
  const members = schema['anyOf'] ?? schema['oneOf'];
  return Array.isArray(members) ? members.map((m) => asSchema(m) ?? {}) : undefined;
}

/** Canonical JSON of a schema without its `$id`: how an inlined copy of a component is recognised. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([k]) => k !== '$id');
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

let components = new Map<string, string>();

/** The components (Message, Room…): a schema equal to one prints as its name, even where it was inlined. */
export function nameComponents(schemas: Record<string, Schema>): void {
  components = new Map(Object.entries(schemas).map(([name, schema]) => [canonical(schema), name]));
}

/** A type on one line, or several when it holds an object with properties. */
export function shape(schema: Schema, depth = 0): string {
  if (typeof schema['$ref'] === 'string') return refName(schema['$ref']);
  const component = components.get(canonical(schema));
  return component ?? expand(schema, depth);
}

/** The shape of the schema itself, even when it is a component (the reference's description of that component). */
export function expand(schema: Schema, depth = 0): string {
  const lits = literals(schema);
  if (lits) return lits.map((v) => JSON.stringify(v)).join(' | ');
  const members = unionMembers(schema);
  // Members that differ only in their constraints (a date or a date-time) print once: the notes tell them apart.
  if (members) return [...new Set(members.map((m) => shape(m, depth)))].join(' | ');
  if (Array.isArray(schema['allOf'])) return schema['allOf'].map((m) => shape(asSchema(m) ?? {}, depth)).join(' & ');
  const type = schema['type'];
  if (Array.isArray(type)) return type.map((t) => shape({ ...schema, type: t }, depth)).join(' | ');
  switch (type) {
    case 'array':
      return arrayShape(schema, depth);
    case 'object':
      return objectShape(schema, depth);
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
    case 'null':
      return type;
    case undefined:
      return schema['properties'] ? objectShape(schema, depth) : 'unknown';
    default:
      throw new Error(`api-doc: no shape for schema type ${JSON.stringify(type)}`);
  }
}

function arrayShape(schema: Schema, depth: number): string {
  // A tuple is `prefixItems` in JSON Schema 2020-12 (OpenAPI 3.1) and `items: [..]` in draft-07 (TypeBox).
  const tuple = Array.isArray(schema['prefixItems']) ? schema['prefixItems'] : Array.isArray(schema['items']) ? schema['items'] : undefined;
  if (tuple) return `[${tuple.map((m) => shape(asSchema(m) ?? {}, depth)).join(', ')}]`;
  const items = asSchema(schema['items']);
  if (!items) return 'unknown[]';
  const inner = shape(items, depth);
  return /[|&]/.test(inner) && !inner.startsWith('{') ? `(${inner})[]` : `${inner}[]`;
}

function objectShape(schema: Schema, depth: number): string {
  const properties = asSchema(schema['properties']) ?? {};
  const names = Object.keys(properties);
  const extra = asSchema(schema['additionalProperties']);
  if (!names.length) return extra ? `Record<string, ${shape(extra, depth)}>` : '{}';
  const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as string[]) : []);
  const pad = INDENT.repeat(depth + 1);
  const lines = names.map((name) => {
    const prop = asSchema(properties[name]) ?? {};
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
    const note = notes(prop);
    const body = shape(prop, depth + 1);
    const line = `${pad}${key}${required.has(name) ? '' : '?'}: ${body};`;
    if (!note) return line;
    // A nested object's comment goes on its opening line, where the reader meets the property.
    const nl = line.indexOf('\n');
    return nl === -1 ? `${line} // ${note}` : `${line.slice(0, nl)} // ${note}${line.slice(nl)}`;
  });
  if (extra) lines.push(`${pad}[key: string]: ${shape(extra, depth + 1)};`);
  // A small object with nothing to remark fits on one line: `{ userId: string }`.
  const flat = lines.map((l) => l.trim().replace(/;$/, ''));
  const short = `{ ${flat.join('; ')} }`;
  if (flat.every((l) => !l.includes('//') && !l.includes('\n')) && short.length <= 60) return short;
  return `{\n${lines.join('\n')}\n${INDENT.repeat(depth)}}`;
}

/** What a validator checks beyond the type, and what the schema says of itself, in a few words. */
export function notes(schema: Schema): string {
  const parts: string[] = [];
  if (typeof schema['description'] === 'string') parts.push(oneLine(schema['description']));
  const num = (k: string) => (typeof schema[k] === 'number' ? (schema[k] as number) : undefined);
  const big = (n: number | undefined) => (n === Number.MAX_SAFE_INTEGER ? '2⁵³−1' : n);
  const range = (min: number | undefined, max: number | string | undefined, unit: string) => {
    if (min !== undefined && max !== undefined) return min === max ? `${min}${unit}` : `${min}–${max}${unit}`;
    if (max !== undefined) return `≤ ${max}${unit}`;
    if (min !== undefined) return min === 1 && unit === ' characters' ? 'not empty' : `≥ ${min}${unit}`;
    return undefined;
  };
  const isTuple = Array.isArray(schema['items']) || Array.isArray(schema['prefixItems']);
  const sizes = [
    range(num('minLength'), num('maxLength'), ' characters'),
    range(num('minimum'), big(num('maximum')), ''),
    isTuple ? undefined : range(num('minItems'), num('maxItems'), ' items'),
    range(num('minProperties'), num('maxProperties'), ' properties'),
  ];
  for (const size of sizes) if (size) parts.push(size);
  if (schema['uniqueItems'] === true) parts.push('no repeats');
  if (typeof schema['format'] === 'string') parts.push(schema['format']);
  if ('default' in schema) parts.push(`default ${JSON.stringify(schema['default'])}`);
  if (typeof schema['pattern'] === 'string') parts.push(PATTERN_WORDS[schema['pattern']] ?? `pattern \`${schema['pattern']}\``);
  // `string | null` and the like: the constraints live in the members.
  const members = literals(schema) ? undefined : unionMembers(schema);
  for (const member of members ?? []) {
    const inner = member['$ref'] ? '' : notes(member);
    if (inner) parts.push(inner);
  }
  // An array's items speak for its elements: "each: …".
  const items = asSchema(schema['items']);
  if (items && !items['$ref']) {
    const inner = notes(items);
    if (inner) parts.push(`each: ${inner}`);
  }
  // What the description already says in words is not said twice.
  const said = parts[0] && typeof schema['description'] === 'string' ? parts[0].toLowerCase() : '';
  return parts.filter((p, i) => i === 0 || !said || !said.includes(p.toLowerCase())).join('; ');
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
