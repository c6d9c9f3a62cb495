DROP INDEX "chat_message_search_idx";--> statement-breakpoint
DROP INDEX "chat_message_content_trgm_idx";--> statement-breakpoint
CREATE INDEX "chat_message_search_idx" ON "chat_message" USING gin ("search_doc") WITH (gin_pending_list_limit=64) WHERE "chat_message"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX "chat_message_content_trgm_idx" ON "chat_message" USING gin ("content" gin_trgm_ops) WITH (gin_pending_list_limit=64) WHERE "chat_message"."deleted_at" is null;