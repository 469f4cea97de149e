-- Every device with complete details gets them as its latest history row, if it has no such
-- row yet (devices first seen before 0007): a write of unchanged details then knows its
-- history is current without comparing (`upsert_device_on`).
INSERT INTO device_history (dev_id, details, seen_at)
SELECT d.dev_id, d.details, d.last_seen FROM devices d
WHERE (d.details::json ->> 'fw_v') IS NOT NULL
  AND COALESCE((SELECT h.details FROM device_history h WHERE h.dev_id = d.dev_id ORDER BY h.id DESC LIMIT 1), '') <> d.details;
