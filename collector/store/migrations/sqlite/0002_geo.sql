-- Geolocation history per device (collector/geo): the latest located
-- report and the geo rules holding on it, and every country and network
-- identity a device reported from, for drift against its own baseline.

CREATE TABLE geo_state (
    device_id   TEXT    NOT NULL PRIMARY KEY REFERENCES devices (id),
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    ip          TEXT    NOT NULL DEFAULT '',
    country     TEXT    NOT NULL DEFAULT '',
    city        TEXT    NOT NULL DEFAULT '',
    has_coords  INTEGER NOT NULL DEFAULT 0,
    latitude    REAL    NOT NULL DEFAULT 0,
    longitude   REAL    NOT NULL DEFAULT 0,
    accuracy_km REAL    NOT NULL DEFAULT 0,
    time_zone   TEXT    NOT NULL DEFAULT '',
    asn         INTEGER NOT NULL DEFAULT 0,
    as_org      TEXT    NOT NULL DEFAULT '',
    active      TEXT    NOT NULL DEFAULT '[]'
) STRICT;

CREATE TABLE geo_seen (
    device_id  TEXT    NOT NULL REFERENCES devices (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('country', 'network')),
    value      TEXT    NOT NULL CHECK (value <> ''),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    reports    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (device_id, kind, value)
) STRICT;
