-- Room history (issue 22, README "Extensions (not AWS)"): the last frames of the rooms whose
-- `ivschat-server:history` tag is set, in their own database file (history.db) so that
-- appending to it never waits for the control plane's single writer, nor it for history.
--
-- `seq` is the frame's place in its room (the embedded history id 0-<seq>); `frame` is the
-- frame's JSON exactly as it was delivered; `at_micros` is its SendTime, for the age limit.

CREATE TABLE room_history (
    room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    at_micros INTEGER NOT NULL,
    frame TEXT NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
