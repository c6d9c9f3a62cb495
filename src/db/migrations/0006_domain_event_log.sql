CREATE TABLE "domain_event" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "domain_event_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"type" text NOT NULL,
	"room_id" uuid,
	"payload" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "domain_event_consumer" (
	"name" text PRIMARY KEY NOT NULL,
	"types" text[] NOT NULL
);
--> statement-breakpoint
CREATE TABLE "domain_event_pending" (
	"consumer" text NOT NULL,
	"event_id" bigint NOT NULL,
	CONSTRAINT "domain_event_pending_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
