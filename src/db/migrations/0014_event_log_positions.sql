ALTER TABLE "domain_event_consumer" ADD COLUMN "read_to" bigint;--> statement-breakpoint
ALTER TABLE "domain_event_consumer" ADD COLUMN "gaps" jsonb;