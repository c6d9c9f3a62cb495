import type { AuthContext } from '../auth/tokens.js';
import { AppError } from '../errors.js';
import type { SearchRepository } from './search.repository.js';
import type { SearchInput } from './search.schemas.js';

export class SearchService {
  constructor(readonly repo: SearchRepository) {}

  async search(_auth: AuthContext, _q: SearchInput): Promise<{ data: never[]; nextCursor: null }> {
    throw new AppError('INTERNAL', 'search is not built yet');
  }
}
