import type { Executor } from '../db/client.js';

export class SearchRepository {
  constructor(readonly db: Executor) {}
}
