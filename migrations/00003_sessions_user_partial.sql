-- The user index holds only sessions that have a user (an authenticated
-- client). An anonymous session - most of them under connection churn, and
-- every one where no authenticator is set up - no longer costs an index
-- insert; the history's user filter names a user, never '' (store/query.go
-- adds "user != ''" to its condition so that SQLite can use this index).
--
-- Building the index reads the table once; no row is rewritten.

-- +goose Up
DROP INDEX sessions_user;
CREATE INDEX sessions_user ON sessions (user, connected_at, id) WHERE user != '';

-- +goose Down
DROP INDEX sessions_user;
CREATE INDEX sessions_user ON sessions (user, connected_at, id);
