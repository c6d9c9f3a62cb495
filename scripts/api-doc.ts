/**
 * `npm run docs:api`: writes docs/api.md, the REST and Socket.IO reference, from the code. The prose is
 * scripts/api-doc.template.md; each `<!-- api-doc: part -->` line there is replaced by a part generated from
 * the OpenAPI document the app builds, the typed event map, the error catalogue, the limits and the configuration.
 * test/api-doc.test.ts regenerates it and fails when the file differs, so the reference cannot drift from the code.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { API_PREFIX, buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../src/contract/errors.js';
import { describeEnv } from './api-doc/env.js';
import { readEvents, type EventDoc } from './api-doc/events.js';
import { renderLimits } from './api-doc/limits.js';
import { expand, nameComponents, notes, oneLine, shape, type Schema } from './api-doc/shape.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const OUTPUT = path.join(ROOT, 'docs/api.md');
const TEMPLATE = path.join(ROOT, 'scripts/api-doc.template.md');

interface Operation {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Schema }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

export interface OpenApiDocument {
  security?: unknown[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** What every error code means to a client; a code without a line here stops the generator. */
const ERROR_MEANING: Record<ErrorCode, string> = {
  UNAUTHORIZED: 'no token, or one that is malformed, badly signed, expired or for another issuer or audience',
  FORBIDDEN: 'the caller may see the thing but not do this (a role rule, a block, a suspension: `detail` says which)',
  NOT_FOUND: 'no such thing, or one the caller may not see: a room you are not in answers exactly as one that does not exist',
  VALIDATION_FAILED: 'the request or payload breaks its schema or a rule; `errors[]` names each field by JSON pointer',
  CONFLICT: 'the state forbids it now (50 emoji on a message, 50 pins in a room, reporting a deleted message…)',
  PAYLOAD_TOO_LARGE: 'a body, file or image over its limit; nothing of the request is kept',
  UNSUPPORTED_MEDIA_TYPE: 'a body that is not JSON (or multipart where files are taken), or a file whose bytes are not an accepted type',
  RATE_LIMITED: 'over a rate limit; wait the seconds of `Retry-After` (REST) before trying again',
  INTERNAL: 'a fault of the service; the details are only in its log, under the request id',
  UNAVAILABLE: 'a dependency is down or the service is busy (a search cut off); `Retry-After` says when to try again',
};

/** The OpenAPI document as `/docs/json` serves it: the app built on an in-memory database, never listening. */
export async function openApiDocument(): Promise<OpenApiDocument> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-api-doc-'));
  // Fixed settings, not the caller's environment: the reference shows the defaults, whatever the shell exports.
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: 'api-doc-api-doc-api-doc-api-doc-api-doc',
    DATA_DIR: dataDir,
    DATABASE_URL: 'memory://',
    LOG_LEVEL: 'silent',
  });
  const app = await buildApp(config);
  try {
    return JSON.parse(JSON.stringify(app.http.swagger())) as OpenApiDocument;
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const code = (text: string) => '`' + text + '`';
const block = (text: string) => '```ts\n' + text + '\n```';
const cell = (text: string) => oneLine(text).replace(/\|/g, '\\|');
/** A shape in running text when it fits on one line, else a block of its own. */
const inlineOrBlock = (s: string) => (s.includes('\n') ? '\n\n' + block(s) : ' ' + code(s));

function renderParameters(params: NonNullable<Operation['parameters']>): string {
  const order = ['path', 'query', 'header'];
  const sorted = [...params].sort((a, b) => order.indexOf(a.in) - order.indexOf(b.in));
  const rows = sorted.map((p) => {
    const schema = p.schema ?? {};
    // The parameter's own description speaks for its schema (and what it says is not repeated).
    const about = notes(p.description ? { ...schema, description: p.description } : schema);
    return `| ${code(p.name)} | ${p.in}${p.required ? '' : ', optional'} | ${cell(code(shape(schema)))} | ${cell(about)} |`;
  });
  return ['| parameter | in | type | notes |', '|---|---|---|---|', ...rows].join('\n');
}

function renderOperation(method: string, fullPath: string, op: Operation, globalSecurity: boolean): string {
  const shown = fullPath.startsWith(API_PREFIX + '/') ? fullPath.slice(API_PREFIX.length) : fullPath;
  const out = [`#### ${code(`${method.toUpperCase()} ${shown}`)}`, ''];
  if (op.summary) out.push(op.summary + (/[.!?]$/.test(op.summary) ? '' : '.'), '');
  if (op.description) out.push(op.description, '');
  const open = Array.isArray(op.security) ? op.security.length === 0 : !globalSecurity;
  const auth = open ? 'none' : shown.startsWith('/admin/') ? 'bearer token of a platform `admin`' : 'bearer token';
  out.push(`Auth: ${auth}.` + (op.operationId ? ` Operation id: ${code(op.operationId)}.` : ''), '');
  if (op.parameters?.length) out.push(renderParameters(op.parameters), '');
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
    const optional = op.requestBody?.required ? '' : ', optional';
    out.push(`Body (${code(type)}${optional}):${inlineOrBlock(shape(media.schema ?? {}))}`, '');
  }
  const errors: string[] = [];
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    if (Number(status) >= 400) {
      errors.push(code(status));
      continue;
    }
    const content = Object.entries(response.content ?? {});
    // A reason phrase or Fastify's placeholder says nothing the status does not; a description a route gives is worth a line.
    const plain = [STATUS_CODES[status], 'Default Response', undefined];
    const said = plain.includes(response.description) ? '' : ` ${response.description}.`;
    if (!content.length) {
      out.push(`${code(status)}: no body${status === '204' ? '' : ' described'}.${said}`, '');
      continue;
    }
    for (const [type, media] of content) {
      const what = type === 'application/json' ? '' : ` (${code(type)})`;
      out.push(`${code(status)}${what}:${said}${inlineOrBlock(shape(media.schema ?? {}))}`, '');
    }
  }
  if (errors.length) out.push(`Errors: ${errors.join(', ')}, each a Problem.`, '');
  return out.join('\n');
}

function renderRest(doc: OpenApiDocument): string {
  const globalSecurity = Array.isArray(doc.security) && doc.security.length > 0;
  const prefixed = new Map<string, string[]>();
  const outside: string[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const text = renderOperation(method, p, op, globalSecurity);
      if (!p.startsWith(API_PREFIX + '/')) {
        outside.push(text);
        continue;
      }
      const tag = op.tags?.[0] ?? 'other';
      prefixed.set(tag, [...(prefixed.get(tag) ?? []), text]);
    }
  }
  const sections = [...prefixed].map(([tag, ops]) => [`### ${tag[0]!.toUpperCase()}${tag.slice(1)}`, '', ...ops].join('\n'));
  sections.push([`### Outside ${code(API_PREFIX)}`, '', ...outside].join('\n'));
  return sections.join('\n').trimEnd();
}

function renderComponents(doc: OpenApiDocument): string {
  return Object.entries(doc.components?.schemas ?? {})
    .map(([name, schema]) => {
      const about = typeof schema['description'] === 'string' ? `\n\n${schema['description']}` : '';
      return `### ${name}${about}\n\n${block(expand(schema))}`;
    })
    .join('\n\n');
}

function renderEvent(e: EventDoc): string {
  const out = [`#### ${code(e.name)}`, ''];
  if (e.doc) out.push(e.doc, '');
  const payload = shape(e.payload);
  out.push(`Payload:${inlineOrBlock(payload)}`, '');
  if (e.ackData) out.push(`Ack \`data\`: ${code(e.ackData)}.`, '');
  if (e.acked) out.push('It comes with an acknowledgement callback: call it to acknowledge.', '');
  return out.join('\n');
}

function renderErrors(): string {
  const rows = Object.entries(ERROR_CATALOGUE).map(([c, { status, title }]) => {
    const meaning = ERROR_MEANING[c as ErrorCode];
    if (!meaning) throw new Error(`api-doc: say what ${c} means in scripts/api-doc.ts`);
    return `| ${code(c)} | ${status} | ${title} | ${cell(meaning)} |`;
  });
  return ['| code | status | title | when |', '|---|---|---|---|', ...rows].join('\n');
}

function renderEnv(): string {
  const out: string[] = [];
  let section = '';
  for (const v of describeEnv(ROOT)) {
    if (v.section !== section) {
      section = v.section;
      out.push(...(out.length ? [''] : []), `### ${section}`, '', '| variable | meaning | accepts | default |', '|---|---|---|---|');
    }
    out.push(`| ${v.label} | ${cell(v.text)} | ${cell(v.accepts ?? 'text')} | ${cell(v.default ?? 'unset')} |`);
  }
  return out.join('\n');
}

/** docs/api.md as the code says it should be: deterministic, so a byte comparison tells whether the file is current. */
export async function renderApiDoc(doc?: OpenApiDocument): Promise<string> {
  const openapi = doc ?? (await openApiDocument());
  nameComponents(openapi.components?.schemas ?? {});
  const events = readEvents(path.join(ROOT, 'src/contract/events.ts'));
  const parts: Record<string, () => string> = {
    errors: renderErrors,
    limits: () => renderLimits(ROOT),
    rest: () => renderRest(openapi),
    shapes: () => renderComponents(openapi),
    'client-events': () => events.client.map(renderEvent).join('\n').trimEnd(),
    'server-events': () => events.server.map(renderEvent).join('\n').trimEnd(),
    env: renderEnv,
  };
  const used = new Set<string>();
  const body = readFileSync(TEMPLATE, 'utf8').replace(/^<!-- api-doc: ([\w-]+) -->$/gm, (_, name: string) => {
    const part = parts[name];
    if (!part) throw new Error(`api-doc: the template asks for an unknown part "${name}"`);
    used.add(name);
    return part();
  });
  const missing = Object.keys(parts).filter((p) => !used.has(p));
  if (missing.length) throw new Error(`api-doc: the template leaves out ${missing.join(', ')}`);
  const header = '<!-- Generated by `npm run docs:api` from scripts/api-doc.template.md and the code: edit those, not this file. -->\n\n';
  return header + body.trimEnd() + '\n';
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const text = await renderApiDoc();
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${path.relative(process.cwd(), OUTPUT)} (${text.length} characters)`);
}
