import type { Feature } from '../feature.js';
import type { MediaService } from '../media/index.js';
import { messagesRoutes } from './messages.routes.js';
import type { MessagesService } from './messages.service.js';

export { MessagePresenter } from './messages.presenter.js';
export { MessagesRepository } from './messages.repository.js';
export { MessagesService } from './messages.service.js';

/** `media` and `maxFiles`: a send may carry files in the same multipart request. */
export function messagesFeature(messages: MessagesService, media: MediaService, maxFiles: number): Feature {
  return { name: 'messages', routes: (api) => api.register(messagesRoutes, { messages, media, maxFiles }) };
}
