import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { request, startTestApp } from './helpers/app.js';

const run = promisify(execFile);
const REDOCLY = path.resolve('node_modules/@redocly/cli/bin/cli.js');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  operationId?: string;
  tags?: string[];
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  servers: Array<{ url: string }>;
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
}

interface Problem {
  ruleId: string;
  severity: string;
  message: string;
  location: Array<{ pointer?: string }>;
}

function operations(doc: Document): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${p}`, op]),
  );
}

/** Redocly's own CLI (the version the project pins), with its recommended ruleset and nothing else. */
async function lint(file: string): Promise<Problem[]> {
  const args = [REDOCLY, 'lint', file, '--extends=recommended', '--format=json'];
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  // The CLI exits non-zero when it finds errors; its report is on stdout either way.
  const stdout = await run(process.execPath, args, { cwd: path.dirname(file), env, maxBuffer: 16 << 20 }).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? '',
  );
  return (JSON.parse(stdout) as { problems: Problem[] }).problems;
}

/** A consumer of the generated types, as a platform team would write one: it must compile, and the tuple must stay one. */
const CONSUMER = `
import type { components, operations, paths } from './api.js';

type Room = components['schemas']['Room'];
type RoomPage = paths['/api/v1/chat/rooms']['get']['responses'][200]['content']['application/json'];
type Sent = operations['sendMessage']['responses'][201]['content']['application/json'];
type Body = NonNullable<operations['sendMessage']['requestBody']>['content']['application/json'];
type NotFound = operations['getRoom']['responses'][404]['content']['application/problem+json'];
type Hit = operations['searchMessages']['responses'][200]['content']['application/json']['data'][number];

export const firstRoom = (page: RoomPage): Room | undefined => page.data[0];
export const sentIn = (message: Sent): string => message.chatRoomId;
export const body: Body = { content: 'hello' };
export const code = (problem: NotFound): string => problem.code;
export const range: Hit['highlight']['ranges'][number] = [0, 5];
// @ts-expect-error a range is exactly [start, end)
export const tooLong: Hit['highlight']['ranges'][number] = [0, 5, 9];
export const upload: NonNullable<operations['uploadMedia']['requestBody']>['content']['multipart/form-data'] = { media: ['x'] };
export const mediaKey: operations['getMediaFile']['parameters']['path']['key'] = 'a/b.png';
`;

const here = inject('template').kind === 'pglite';

describe.runIf(here)('the OpenAPI document at /docs/json', () => {
  let doc: Document;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'openapi-'));
    const t = await startTestApp();
    try {
      doc = (await request(t.baseUrl, '/docs/json')).body as Document;
    } finally {
      await t.close();
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is OpenAPI 3.1 and passes Redocly's recommended rules without an error or a warning", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    const problems = (await lint(file)).map((p) => `${p.severity} ${p.ruleId}: ${p.message} (${p.location[0]?.pointer ?? ''})`);
    expect(problems).toEqual([]);
  });

  it('gives every operation a unique camelCase operationId, a declared tag and a 4xx answer', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(40);
    const ids = ops.map(([, op]) => op.operationId);
    for (const [where, op] of ops) {
      expect(op.operationId, where).toMatch(/^[a-z]+[A-Za-z]*$/);
      expect(
        Object.keys(op.responses).some((s) => /^4\d\d$/.test(s)),
        where,
      ).toBe(true);
      for (const tag of op.tags ?? [])
        expect(
          doc.tags.map((t) => t.name),
          where,
        ).toContain(tag);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.tags.every((t) => t.description)).toBe(true);
    // The local driver's files, published under a name a client can use: Fastify's wildcard is called `*`.
    expect(doc.paths).toHaveProperty(['/media/{key}', 'get']);
    expect(JSON.stringify(doc)).not.toMatch(/"(errorMessage|additionalItems)"/);
    // No PUBLIC_URL: the document points at the server it came from, not at localhost.
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('generates, with openapi-typescript, a client whose types compile', async () => {
    await writeFile(path.join(dir, 'api.ts'), astToString(await openapiTS(doc as never)));
    await writeFile(path.join(dir, 'consumer.ts'), CONSUMER);
    const program = ts.createProgram([path.join(dir, 'consumer.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      // The DOM's declarations would double the time; generated types need none of them.
      lib: ['lib.es2022.d.ts'],
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
      noUnusedLocals: false,
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
    expect(program.getSourceFiles().map((f) => path.basename(f.fileName))).toContain('api.ts');
  });
});
