-- Several accounts on one server (README "Several accounts"). Every room and logging
-- configuration belongs to one account: '' is the server's own account (--account-id), so
-- every row written before this migration, and every row of the single-account default,
-- follows --account-id as before; another account's rows hold its 12-digit id. Ids stay
-- unique across accounts; every read and write names the account it acts for.
--
-- The same columns and indexes as migrations/sqlite/0004_accounts.sql. (Numbered 0004 in
-- both directories so the two stay in step whatever else PostgreSQL gains as 0003.)

ALTER TABLE rooms ADD COLUMN account TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE logging_configurations ADD COLUMN account TEXT COLLATE "C" NOT NULL DEFAULT '';

-- The lists and the quota counts are per account: the page order within one account.
DROP INDEX rooms_by_update;
CREATE INDEX rooms_by_account_update ON rooms (account, update_time DESC, id DESC);
DROP INDEX logging_by_update;
CREATE INDEX logging_by_account_update ON logging_configurations (account, update_time DESC, id DESC);
