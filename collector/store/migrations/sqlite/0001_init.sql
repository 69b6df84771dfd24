-- farmwatch collector schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch, UTC; NULL is "never".
-- Booleans are INTEGER 0/1. JSON is TEXT (our own values) or BLOB (bytes
-- stored exactly as received). Tables are STRICT: a value of the wrong type
-- is an error, not a silent conversion.

CREATE TABLE enroll_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    secret_hash BLOB    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    max_uses    INTEGER NOT NULL DEFAULT 0,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER,
    created_by  TEXT    NOT NULL DEFAULT '',
    owner       TEXT    NOT NULL DEFAULT '',
    note        TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE devices (
    id             TEXT    NOT NULL PRIMARY KEY,
    public_key     BLOB    NOT NULL,
    cert_serial    TEXT    NOT NULL DEFAULT '',
    cert_not_after INTEGER,
    token_id       TEXT    NOT NULL DEFAULT '',
    owner          TEXT    NOT NULL DEFAULT '',
    hostname       TEXT    NOT NULL DEFAULT '',
    os             TEXT    NOT NULL DEFAULT '',
    arch           TEXT    NOT NULL DEFAULT '',
    enrolled_at    INTEGER NOT NULL,
    revoked        INTEGER NOT NULL DEFAULT 0,
    revoked_at     INTEGER,
    revoke_reason  TEXT    NOT NULL DEFAULT '',
    last_seen      INTEGER,
    last_seq       INTEGER NOT NULL DEFAULT 0,
    last_kind      TEXT    NOT NULL DEFAULT '',
    agent_version  TEXT    NOT NULL DEFAULT '',
    policy_version TEXT    NOT NULL DEFAULT '',
    public_ip      TEXT    NOT NULL DEFAULT '',
    network        TEXT,
    health         BLOB,
    max_severity   INTEGER NOT NULL DEFAULT -1
) STRICT;
CREATE INDEX devices_owner ON devices (owner);

CREATE TABLE reports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id      TEXT    NOT NULL REFERENCES devices (id),
    seq            INTEGER NOT NULL CHECK (seq > 0),
    kind           TEXT    NOT NULL,
    boot_id        TEXT    NOT NULL DEFAULT '',
    sent_at        INTEGER,
    received_at    INTEGER NOT NULL,
    public_ip      TEXT    NOT NULL DEFAULT '',
    envelope       BLOB    NOT NULL,
    max_severity   INTEGER NOT NULL CHECK (max_severity BETWEEN 0 AND 4),
    agent_version  TEXT    NOT NULL DEFAULT '',
    policy_version TEXT    NOT NULL DEFAULT '',
    network        TEXT,
    health         BLOB,
    UNIQUE (device_id, seq)
) STRICT;

CREATE TABLE findings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    device_id    TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    finding_id   TEXT    NOT NULL,
    detector     TEXT    NOT NULL DEFAULT '',
    rule         TEXT    NOT NULL DEFAULT '',
    severity     INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 4),
    confidence   REAL    NOT NULL DEFAULT 0,
    title        TEXT    NOT NULL DEFAULT '',
    summary      TEXT    NOT NULL DEFAULT '',
    finding_json BLOB,
    observed_at  INTEGER
) STRICT;
CREATE INDEX findings_report ON findings (report_id);
CREATE INDEX findings_device ON findings (device_id, id);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL,
    kind            TEXT    NOT NULL DEFAULT '',
    severity        INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('new', 'acknowledged', 'resolved', 'suppressed')),
    title           TEXT    NOT NULL DEFAULT '',
    summary         TEXT    NOT NULL DEFAULT '',
    members         TEXT    NOT NULL DEFAULT '[]',
    evidence        BLOB,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    seen_count      INTEGER NOT NULL,
    status_reason   TEXT    NOT NULL DEFAULT '',
    suppressed_till INTEGER,
    updated_at      INTEGER NOT NULL
) STRICT;
-- At most one open alert per key: concurrent upserts of one key merge.
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts (status, id);

CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sink       TEXT    NOT NULL,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id),
    event      TEXT    NOT NULL CHECK (event IN ('created', 'updated')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    done_at    INTEGER
) STRICT;
CREATE INDEX deliveries_due ON deliveries (sink, next_at) WHERE NOT done;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL DEFAULT '',
    action TEXT    NOT NULL,
    target TEXT    NOT NULL DEFAULT '',
    detail TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE users (
    name                 TEXT    NOT NULL PRIMARY KEY,
    role                 TEXT    NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash        BLOB,
    created_at           INTEGER NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE api_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_name   TEXT    NOT NULL REFERENCES users (name),
    secret_hash BLOB    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0,
    note        TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE roster (
    owner        TEXT NOT NULL PRIMARY KEY CHECK (owner <> ''),
    display_name TEXT NOT NULL DEFAULT '',
    city         TEXT NOT NULL DEFAULT '',
    country      TEXT NOT NULL DEFAULT '',
    latitude     REAL NOT NULL DEFAULT 0,
    longitude    REAL NOT NULL DEFAULT 0,
    time_zone    TEXT NOT NULL DEFAULT '',
    devices      TEXT NOT NULL DEFAULT '[]'
) STRICT;
