import { expect } from 'vitest';
import type { Res } from './app.js';

/** An error answer: the status, the catalogue code, problem+json, and the fields every problem carries. */
export function expectProblem(res: Res, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}
