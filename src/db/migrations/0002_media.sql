CREATE TABLE "chat_media" (
	"id" uuid PRIMARY KEY NOT NULL,
	"room_id" uuid NOT NULL,
	"uploader_id" text NOT NULL,
	"message_id" uuid,
	"position" integer DEFAULT 0 NOT NULL,
	"kind" text NOT NULL,
	"mime_type" text NOT NULL,
	"size" bigint NOT NULL,
	"file_name" text NOT NULL,
	"storage_key" text NOT NULL,
	"thumbnail_key" text,
	"width" integer,
	"height" integer,
	"duration_ms" integer,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "chat_media_kind_check" CHECK ("chat_media"."kind" in ('image', 'video', 'audio', 'document')),
	CONSTRAINT "chat_media_size_check" CHECK ("chat_media"."size" > 0)
);
--> statement-breakpoint
ALTER TABLE "chat_media" ADD CONSTRAINT "chat_media_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_media" ADD CONSTRAINT "chat_media_message_id_chat_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_media_message_idx" ON "chat_media" USING btree ("message_id","position") WHERE "chat_media"."message_id" is not null;--> statement-breakpoint
CREATE INDEX "chat_media_pending_idx" ON "chat_media" USING btree ("created_at") WHERE "chat_media"."message_id" is null;