-- What each device reported over time: a row whenever its complete details (DevInfo and
-- DevDetail) differ from the last row, e.g. after a firmware update.
CREATE TABLE device_history (
    id       BIGSERIAL PRIMARY KEY,
    dev_id   TEXT    NOT NULL,
    details  TEXT    NOT NULL,            -- JSON DeviceDetails
    seen_at  BIGINT NOT NULL
);
CREATE INDEX device_history_dev ON device_history (dev_id, id);
