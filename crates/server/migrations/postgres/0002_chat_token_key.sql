-- The cluster's chat-token key (docs/scale-out.md, "The chat-token key"), so every node of a
-- cluster seals and opens tokens with the same key without a --token-key flag. One row: the
-- first node to start inserts a random key (INSERT … ON CONFLICT DO NOTHING) and every node
-- then reads back whichever key won. `--token-key` overrides it and leaves this row unused.
--
-- Anyone who can read this table can mint chat tokens for the cluster: grant it as a secret.

CREATE TABLE chat_token_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_hex     TEXT NOT NULL,
    create_time BIGINT NOT NULL
);
