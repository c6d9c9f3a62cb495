CREATE TABLE "notification_sent" (
	"message_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"notification_id" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notification_sent_message_id_user_id_notification_id_pk" PRIMARY KEY("message_id","user_id","notification_id")
);
--> statement-breakpoint
ALTER TABLE "notification_sent" ADD CONSTRAINT "notification_sent_message_id_chat_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notification_sent_created_idx" ON "notification_sent" USING btree ("created_at");