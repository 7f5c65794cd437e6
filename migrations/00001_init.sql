-- Session history and admin audit log (PRODUCT.md §3, §4, §6).
--
-- Times are INTEGER unix nanoseconds (UTC). Text fields that are absent are
-- '' rather than NULL; closed_at, close_code and closed_by are NULL while the
-- session is open. Tables are STRICT so a wrongly typed value is an error,
-- not silent coercion.

-- +goose Up
CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    route        TEXT    NOT NULL DEFAULT '',
    remote_addr  TEXT    NOT NULL DEFAULT '',
    user         TEXT    NOT NULL DEFAULT '',
    labels       TEXT    NOT NULL DEFAULT '{}', -- JSON object of string to string
    origin       TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT '',
    subprotocol  TEXT    NOT NULL DEFAULT '',
    extensions   TEXT    NOT NULL DEFAULT '',
    connected_at INTEGER NOT NULL,
    closed_at    INTEGER,
    close_code   INTEGER,
    close_reason TEXT    NOT NULL DEFAULT '',
    closed_by    TEXT,
    error        TEXT    NOT NULL DEFAULT '',
    messages_in  INTEGER NOT NULL DEFAULT 0,
    messages_out INTEGER NOT NULL DEFAULT 0,
    bytes_in     INTEGER NOT NULL DEFAULT 0,
    bytes_out    INTEGER NOT NULL DEFAULT 0,
    node         TEXT    NOT NULL DEFAULT ''
) STRICT;

-- History is listed newest first with keyset pagination on (connected_at, id);
-- user and route are the selective filters, so each gets its own ordered index.
CREATE INDEX sessions_connected ON sessions (connected_at, id);
CREATE INDEX sessions_user ON sessions (user, connected_at, id);
CREATE INDEX sessions_route ON sessions (route, connected_at, id);
-- Retention deletes by closed_at; crash recovery finds closed_at IS NULL.
CREATE INDEX sessions_closed ON sessions (closed_at);

CREATE TABLE audit (
    id         INTEGER NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL DEFAULT '',
    target     TEXT    NOT NULL DEFAULT '', -- a connection id or a selector
    parameters TEXT    NOT NULL DEFAULT '{}', -- JSON
    matched    INTEGER NOT NULL DEFAULT 0,
    affected   INTEGER NOT NULL DEFAULT 0,
    result     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_at ON audit (at);

-- The last time the daemon was known alive; crash recovery closes sessions
-- left open at this time. A single row.
CREATE TABLE heartbeat (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    node TEXT    NOT NULL DEFAULT '',
    at   INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE heartbeat;
DROP TABLE audit;
DROP TABLE sessions;
