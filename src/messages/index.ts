import type { Feature } from '../feature.js';
import type { MediaService } from '../media/index.js';
import { messageChangesRoutes } from './message-changes.routes.js';
import type { MessageChangesService } from './message-changes.service.js';
import { messagesRoutes } from './messages.routes.js';
import type { MessagesService } from './messages.service.js';

export { MessageChangesRepository, type ChangeSet, type TombstoneFilter } from './message-changes.repository.js';
export { MessageChangesService, afterChange, type TombstoneBatch } from './message-changes.service.js';
export { MessagePresenter, reactionKey } from './messages.presenter.js';
export { MessagesRepository, messageColumns, messageRowOf, reply, type MessageRow, type RawMessage } from './messages.repository.js';
export { MessagesService } from './messages.service.js';
export { listed } from './change-index.js';
export { blockedInDirectRoom, isParticipant, loggedChange } from './write.statements.js';

/** `media` and `maxFiles`: a send may carry files in the same multipart request. */
export function messagesFeature(messages: MessagesService, changes: MessageChangesService, media: MediaService, maxFiles: number): Feature {
  return {
    name: 'messages',
    routes: async (api) => {
      await api.register(messagesRoutes, { messages, media, maxFiles });
      await api.register(messageChangesRoutes, { changes });
    },
  };
}
