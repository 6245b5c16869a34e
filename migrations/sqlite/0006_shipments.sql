-- Parcels planned by the split rule, the SKU facts that rule reads, and an index for the pusher.

ALTER TABLE skus ADD COLUMN weight_grams INTEGER NOT NULL DEFAULT 0;
ALTER TABLE skus ADD COLUMN presale INTEGER NOT NULL DEFAULT 0;

ALTER TABLE orders ADD COLUMN split_rule_version INTEGER;

-- One row per parcel; `line_positions` is a JSON array of positions in the order's lines.
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    parcel_no INTEGER NOT NULL,
    warehouse_code TEXT NOT NULL,
    line_positions TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (order_id, parcel_no)
);

-- The pusher reads each store's pending offers oldest first, and the listings of one SKU in one
-- store. Without these, SQLite scanned every offer and every listing of the store per push.
DROP INDEX stock_offers_due;
CREATE INDEX stock_offers_store_due ON stock_offers (store_id, pending, updated_at, sku_id);
DROP INDEX store_listings_sku;
CREATE INDEX store_listings_sku ON store_listings (sku_id, store_id);

-- Why the stock-share rule could not compute an offer (the offer is then 0).
ALTER TABLE stock_offers ADD COLUMN rule_error TEXT;
