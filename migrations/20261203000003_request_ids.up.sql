-- Idempotency keys: the first result of a Create or Append that carried a request_id, so that
-- a retry returns it instead of writing a duplicate.
CREATE TABLE request_ids (
  user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  operation   VARCHAR(32) NOT NULL,
  request_id  VARCHAR(36) NOT NULL,
  resource_id UUID NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, operation, request_id)
);

-- Lets an operator purge old keys by age.
CREATE INDEX idx_request_ids_created_at ON request_ids (created_at);
