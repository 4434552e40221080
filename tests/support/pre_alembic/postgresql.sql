-- The schema `Base.metadata.create_all` made on postgresql before the bot had
-- migrations (main at 6eac414): what a pre-Alembic deployment holds.
-- Generated from those models with CreateTable/CreateIndex; do not edit.

CREATE TABLE confirmation_cards (
	reference VARCHAR(32) NOT NULL,
	user_id VARCHAR(200) NOT NULL,
	activity_id VARCHAR(200),
	conversation JSON NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (reference)
);

CREATE TABLE conversation_refs (
	user_id VARCHAR(200) NOT NULL,
	reference JSON NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (user_id)
);

CREATE TABLE notices (
	reference VARCHAR(32) NOT NULL,
	status VARCHAR(16),
	attempts INTEGER NOT NULL,
	next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
	card_told_at TIMESTAMP WITH TIME ZONE,
	message_told_at TIMESTAMP WITH TIME ZONE,
	told_at TIMESTAMP WITH TIME ZONE,
	last_error VARCHAR(200),
	PRIMARY KEY (reference)
);

CREATE TABLE processed_activities (
	conversation_id VARCHAR(500) NOT NULL,
	activity_id VARCHAR(200) NOT NULL,
	seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (conversation_id, activity_id)
);

CREATE INDEX ix_processed_activities_seen_at ON processed_activities (seen_at);

CREATE TABLE reference_counters (
	day VARCHAR(8) NOT NULL,
	last INTEGER NOT NULL,
	PRIMARY KEY (day)
);

CREATE TABLE requests (
	id SERIAL NOT NULL,
	reference VARCHAR(32) NOT NULL,
	form_id VARCHAR(200) NOT NULL,
	user_id VARCHAR(200) NOT NULL,
	practice_ods VARCHAR(16) NOT NULL,
	trust VARCHAR(16) NOT NULL,
	department VARCHAR(80) NOT NULL,
	priority VARCHAR(32) NOT NULL,
	mailbox VARCHAR(254) NOT NULL,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
	lease_owner VARCHAR(100),
	lease_until TIMESTAMP WITH TIME ZONE,
	message_id VARCHAR(254),
	last_error VARCHAR(500),
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	sent_at TIMESTAMP WITH TIME ZONE,
	failed_at TIMESTAMP WITH TIME ZONE,
	payload JSON,
	purged_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (reference),
	UNIQUE (form_id)
);

CREATE INDEX ix_requests_due ON requests (status, next_attempt_at);

CREATE INDEX ix_requests_user_id ON requests (user_id);

CREATE TABLE user_profiles (
	user_id VARCHAR(200) NOT NULL,
	borough VARCHAR(40),
	practice JSON NOT NULL,
	referrer JSON NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (user_id)
);
