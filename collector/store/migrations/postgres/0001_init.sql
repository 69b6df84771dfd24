-- farmwatch collector schema, version 1 (PostgreSQL).
-- Times are timestamptz (microseconds, UTC); NULL is "never". Our own
-- structured values are jsonb; bytes that must stay exactly as received
-- (envelopes) are bytea, JSON kept verbatim (health, evidence, findings)
-- is json, which keeps the text as sent.

CREATE TABLE enroll_tokens (
    id          text        NOT NULL PRIMARY KEY,
    secret_hash bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    max_uses    integer     NOT NULL DEFAULT 0,
    uses        integer     NOT NULL DEFAULT 0,
    revoked     boolean     NOT NULL DEFAULT false,
    revoked_at  timestamptz,
    created_by  text        NOT NULL DEFAULT '',
    owner       text        NOT NULL DEFAULT '',
    note        text        NOT NULL DEFAULT ''
);

CREATE TABLE devices (
    id             text        NOT NULL PRIMARY KEY,
    public_key     bytea       NOT NULL,
    cert_serial    text        NOT NULL DEFAULT '',
    cert_not_after timestamptz,
    token_id       text        NOT NULL DEFAULT '',
    owner          text        NOT NULL DEFAULT '',
    hostname       text        NOT NULL DEFAULT '',
    os             text        NOT NULL DEFAULT '',
    arch           text        NOT NULL DEFAULT '',
    enrolled_at    timestamptz NOT NULL,
    revoked        boolean     NOT NULL DEFAULT false,
    revoked_at     timestamptz,
    revoke_reason  text        NOT NULL DEFAULT '',
    last_seen      timestamptz,
    last_seq       bigint      NOT NULL DEFAULT 0,
    last_kind      text        NOT NULL DEFAULT '',
    agent_version  text        NOT NULL DEFAULT '',
    policy_version text        NOT NULL DEFAULT '',
    public_ip      text        NOT NULL DEFAULT '',
    network        jsonb,
    health         json,
    max_severity   integer     NOT NULL DEFAULT -1
);
CREATE INDEX devices_owner ON devices (owner);

CREATE TABLE reports (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id      text        NOT NULL REFERENCES devices (id),
    seq            bigint      NOT NULL CHECK (seq > 0),
    kind           text        NOT NULL,
    boot_id        text        NOT NULL DEFAULT '',
    sent_at        timestamptz,
    received_at    timestamptz NOT NULL,
    public_ip      text        NOT NULL DEFAULT '',
    envelope       bytea       NOT NULL,
    max_severity   integer     NOT NULL CHECK (max_severity BETWEEN 0 AND 4),
    agent_version  text        NOT NULL DEFAULT '',
    policy_version text        NOT NULL DEFAULT '',
    network        jsonb,
    health         json,
    UNIQUE (device_id, seq)
);

CREATE TABLE findings (
    id           bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id    bigint           NOT NULL REFERENCES reports (id),
    device_id    text             NOT NULL,
    seq          bigint           NOT NULL,
    finding_id   text             NOT NULL,
    detector     text             NOT NULL DEFAULT '',
    rule         text             NOT NULL DEFAULT '',
    severity     integer          NOT NULL CHECK (severity BETWEEN 0 AND 4),
    confidence   double precision NOT NULL DEFAULT 0,
    title        text             NOT NULL DEFAULT '',
    summary      text             NOT NULL DEFAULT '',
    finding_json json,
    observed_at  timestamptz
);
CREATE INDEX findings_report ON findings (report_id);
CREATE INDEX findings_device ON findings (device_id, id);

CREATE TABLE alerts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             text        NOT NULL,
    kind            text        NOT NULL DEFAULT '',
    severity        integer     NOT NULL,
    status          text        NOT NULL CHECK (status IN ('new', 'acknowledged', 'resolved', 'suppressed')),
    title           text        NOT NULL DEFAULT '',
    summary         text        NOT NULL DEFAULT '',
    members         jsonb       NOT NULL DEFAULT '[]',
    evidence        json,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    seen_count      integer     NOT NULL,
    status_reason   text        NOT NULL DEFAULT '',
    suppressed_till timestamptz,
    updated_at      timestamptz NOT NULL
);
-- At most one open alert per key: concurrent upserts of one key, from any
-- node, merge into it (INSERT … ON CONFLICT on this index).
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE status <> 'resolved';
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_members ON alerts USING gin (members jsonb_path_ops);

CREATE TABLE deliveries (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink       text        NOT NULL,
    alert_id   bigint      NOT NULL REFERENCES alerts (id),
    event      text        NOT NULL CHECK (event IN ('created', 'updated')),
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL,
    last_error text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    done       boolean     NOT NULL DEFAULT false,
    done_at    timestamptz
);
CREATE INDEX deliveries_due ON deliveries (sink, next_at) WHERE NOT done;

CREATE TABLE audit (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text        NOT NULL DEFAULT '',
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    detail text        NOT NULL DEFAULT ''
);

CREATE TABLE users (
    name                 text        NOT NULL PRIMARY KEY,
    role                 text        NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    password_hash        bytea,
    created_at           timestamptz NOT NULL,
    must_change_password boolean     NOT NULL DEFAULT false
);

CREATE TABLE api_tokens (
    id          text        NOT NULL PRIMARY KEY,
    user_name   text        NOT NULL REFERENCES users (name),
    secret_hash bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked     boolean     NOT NULL DEFAULT false,
    note        text        NOT NULL DEFAULT ''
);

CREATE TABLE roster (
    owner        text             NOT NULL PRIMARY KEY CHECK (owner <> ''),
    display_name text             NOT NULL DEFAULT '',
    city         text             NOT NULL DEFAULT '',
    country      text             NOT NULL DEFAULT '',
    latitude     double precision NOT NULL DEFAULT 0,
    longitude    double precision NOT NULL DEFAULT 0,
    time_zone    text             NOT NULL DEFAULT '',
    devices      jsonb            NOT NULL DEFAULT '[]'
);
