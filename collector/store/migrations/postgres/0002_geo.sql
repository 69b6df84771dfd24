-- Geolocation history per device (collector/geo): the latest located
-- report and the geo rules holding on it, and every country and network
-- identity a device reported from, for drift against its own baseline.

CREATE TABLE geo_state (
    device_id   text             NOT NULL PRIMARY KEY REFERENCES devices (id),
    first_seen  timestamptz      NOT NULL,
    last_seen   timestamptz      NOT NULL,
    ip          text             NOT NULL DEFAULT '',
    country     text             NOT NULL DEFAULT '',
    city        text             NOT NULL DEFAULT '',
    has_coords  boolean          NOT NULL DEFAULT FALSE,
    latitude    double precision NOT NULL DEFAULT 0,
    longitude   double precision NOT NULL DEFAULT 0,
    accuracy_km double precision NOT NULL DEFAULT 0,
    time_zone   text             NOT NULL DEFAULT '',
    asn         bigint           NOT NULL DEFAULT 0,
    as_org      text             NOT NULL DEFAULT '',
    active      jsonb            NOT NULL DEFAULT '[]'
);

CREATE TABLE geo_seen (
    device_id  text        NOT NULL REFERENCES devices (id),
    kind       text        NOT NULL CHECK (kind IN ('country', 'network')),
    value      text        NOT NULL CHECK (value <> ''),
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    reports    integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (device_id, kind, value)
);
