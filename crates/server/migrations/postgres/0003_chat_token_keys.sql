-- Chat-token key rotation (docs/scale-out.md, "The chat-token key"): the cluster keeps every
-- key still in use, one row per generation. A key seals new tokens from `activate_time` and
-- opens none from `retire_time` (NULL while no later key has replaced it); times are µs since
-- the epoch. `ivschat-server rotate-token-key` adds a generation and sets the others'
-- `retire_time`; every node polls this table. The single key of migration 0002 becomes
-- generation 1, so a running cluster keeps its key across the upgrade, and its table goes.
--
-- Anyone who can read this table can mint chat tokens: grant it as a secret.

CREATE TABLE chat_token_keys (
    generation    BIGINT PRIMARY KEY,
    key_hex       TEXT NOT NULL,
    activate_time BIGINT NOT NULL,
    retire_time   BIGINT
);

INSERT INTO chat_token_keys (generation, key_hex, activate_time, retire_time)
    SELECT 1, key_hex, 0, NULL FROM chat_token_key WHERE id = 1;

DROP TABLE chat_token_key;
