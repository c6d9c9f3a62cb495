import type { Log } from '../log.js';
import type { MediaRepository } from './media.repository.js';
import type { MediaStorage } from './storage/storage.js';

/** Rows a sweep takes at a time, and storage calls in flight at once. */
const SWEEP_BATCH = 100;
const PARALLEL_DELETES = 16;

/**
 * The removal of objects nobody may read any more (a deleted message's files). The intent is durable before anything
 * is removed: the caller's transaction lists the keys in media_garbage (MediaRepository.eraseMessage). Here each
 * object is deleted from storage and its row dropped once the storage confirms; a failure leaves the row with a later
 * attempt, for the periodic sweep. Nothing here throws: the delete that asked for this has already happened.
 */
export class MediaGarbage {
  constructor(
    private readonly repo: MediaRepository,
    private readonly storage: MediaStorage,
    private readonly log: () => Pick<Log, 'warn' | 'error'> | undefined,
  ) {}

  /** Removes the objects now; what fails is logged and left to the sweep. */
  async purge(keys: string[]): Promise<void> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return;
    try {
      await this.attempt(unique);
    } catch (err) {
      // The database itself failed (the objects may or may not be gone): the rows stay and their lease runs out.
      this.log()?.error({ err, keys: unique }, 'could not record the removal of media objects');
    }
  }

  /** Retries the due rows, longest waiting first, in bounded batches; returns how many objects went. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const keys = await this.repo.claimDueGarbage(SWEEP_BATCH);
      removed += await this.attempt(keys);
      // Every claimed row has moved out of the due window, removed or not, so this ends.
      if (keys.length < SWEEP_BATCH) return removed;
    }
  }

  /** True while `key` is listed for removal: it must not be served, whatever the signature says. */
  isErased(key: string): Promise<boolean> {
    return this.repo.listedAsGarbage(key);
  }

  private async attempt(keys: string[]): Promise<number> {
    const gone: string[] = [];
    const failed: string[] = [];
    for (let i = 0; i < keys.length; i += PARALLEL_DELETES) {
      await Promise.all(
        keys.slice(i, i + PARALLEL_DELETES).map(async (key) => {
          try {
            await this.storage.delete(key);
            gone.push(key);
          } catch (err) {
            failed.push(key);
            this.log()?.warn({ err, key }, 'could not delete a stored media object; it will be retried');
          }
        }),
      );
    }
    await this.repo.removeGarbage(gone);
    await this.repo.garbageFailed(failed);
    return gone.length;
  }
}
