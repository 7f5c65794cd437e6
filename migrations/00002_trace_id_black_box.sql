-- The trace id and the black box on the session row (PRODUCT.md §6, §10).
--
-- trace_id is the hex trace id of the session's trace, '' when it was not
-- traced. black_box holds the last frame headers of a session that ended
-- abnormally, NULL for every other session. It is a compact BLOB (the store's
-- encoding, store/blackbox.go: a version byte, then per frame one flags byte
-- and two varints) rather than JSON: at most 64 frames cost at most 1.3 KiB
-- instead of about 5 KiB of JSON, which matters when a network failure ends
-- thousands of sessions at once and each row carries one, and nothing needs to
-- query inside it with SQL: it is read whole, one session at a time.
--
-- Adding columns with constant defaults rewrites no row: SQLite reads the
-- default for rows written before the column existed.

-- +goose Up
ALTER TABLE sessions ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN black_box BLOB;

-- +goose Down
ALTER TABLE sessions DROP COLUMN black_box;
ALTER TABLE sessions DROP COLUMN trace_id;
