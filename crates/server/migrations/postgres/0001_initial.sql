-- Rooms and logging configurations. Times are microseconds since the Unix epoch (UTC).
-- ARNs are not stored: they are derived from the server's region and account.
--
-- The same columns as migrations/sqlite/0001_initial.sql (the row mapping is shared). The
-- tables live in the cluster's own schema: every connection's search_path is that schema.
--
-- Ids are compared and ordered bytewise (COLLATE "C"), as in SQLite, whatever the
-- database's default collation: pagination orders by (update_time, id).

CREATE TABLE rooms (
    id              TEXT COLLATE "C" PRIMARY KEY,
    name            TEXT NOT NULL,
    create_time     BIGINT NOT NULL,
    update_time     BIGINT NOT NULL,
    max_rate        INTEGER NOT NULL,
    max_length      INTEGER NOT NULL,
    review_uri      TEXT,
    review_fallback TEXT NOT NULL,
    tags            TEXT NOT NULL,   -- JSON object
    logging_ids     TEXT NOT NULL    -- JSON array of logging configuration ids, in client order
);

-- ListRooms: newest update first, id breaks ties (the pagination cursor is (update_time, id)).
CREATE INDEX rooms_by_update ON rooms (update_time DESC, id DESC);
CREATE INDEX rooms_by_name ON rooms (name);
CREATE INDEX rooms_by_review_uri ON rooms (review_uri);

CREATE TABLE logging_configurations (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    destination TEXT NOT NULL,       -- JSON DestinationConfiguration
    state       TEXT NOT NULL,
    tags        TEXT NOT NULL        -- JSON object
);

CREATE INDEX logging_by_update ON logging_configurations (update_time DESC, id DESC);

-- Which room uses which logging configuration: the ListRooms filter and the check that
-- refuses to delete a configuration still in use.
CREATE TABLE room_logging (
    room_id    TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    logging_id TEXT COLLATE "C" NOT NULL REFERENCES logging_configurations (id),
    PRIMARY KEY (room_id, logging_id)
);

CREATE INDEX room_logging_by_logging ON room_logging (logging_id);
