-- Stock: a ledger of movements per SKU and warehouse, the levels derived from it, reservations of
-- order lines, store listings mapped to our SKUs, and what each store is offered and was told.

-- A SKU is stock-managed once it has had a movement; until then orders for it reserve nothing.
ALTER TABLE skus ADD COLUMN stock_tracked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE skus ADD COLUMN low_stock_threshold INTEGER NOT NULL DEFAULT 5;
-- Bumped by every stock change of the SKU; the update also locks the row, so changes to one SKU
-- are serialised and its offers are always computed from committed levels.
ALTER TABLE skus ADD COLUMN stock_revision INTEGER NOT NULL DEFAULT 0;

-- Warehouses a store sells from; a store with no rows sells from every warehouse.
CREATE TABLE store_warehouses (
    store_id INTEGER NOT NULL REFERENCES stores (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    PRIMARY KEY (store_id, warehouse_id)
);

CREATE TABLE bins (
    id INTEGER PRIMARY KEY,
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    code TEXT NOT NULL,
    UNIQUE (warehouse_id, code)
);

-- A store's listing (platform item and SKU) and the SKU of ours it sells.
CREATE TABLE store_listings (
    store_id INTEGER NOT NULL REFERENCES stores (id),
    platform_item_id TEXT NOT NULL,
    platform_sku_id TEXT NOT NULL,
    sku_code TEXT NOT NULL,
    title TEXT NOT NULL,
    sku_name TEXT NOT NULL,
    platform_quantity INTEGER NOT NULL,
    sku_id INTEGER REFERENCES skus (id),
    pulled_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, platform_item_id, platform_sku_id)
);
CREATE INDEX store_listings_sku ON store_listings (sku_id);

CREATE TABLE stock_levels (
    sku_id INTEGER NOT NULL REFERENCES skus (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    on_hand INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    bin TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sku_id, warehouse_id),
    CHECK (reserved >= 0 AND on_hand >= reserved)
);

CREATE TABLE stock_movements (
    id INTEGER PRIMARY KEY,
    sku_id INTEGER NOT NULL REFERENCES skus (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    kind TEXT NOT NULL,
    on_hand_delta INTEGER NOT NULL,
    reserved_delta INTEGER NOT NULL,
    order_id INTEGER,
    order_line_id INTEGER,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX stock_movements_sku ON stock_movements (sku_id, warehouse_id, id);

-- One row per order line that holds stock. The key makes a repeated delivery reserve once.
CREATE TABLE reservations (
    order_line_id INTEGER PRIMARY KEY REFERENCES order_lines (id),
    order_id INTEGER NOT NULL REFERENCES orders (id),
    store_id INTEGER NOT NULL REFERENCES stores (id),
    sku_id INTEGER NOT NULL REFERENCES skus (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses (id),
    quantity INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE INDEX reservations_sales ON reservations (sku_id, store_id, created_at);

-- What each store is offered of each SKU (`offered`, recomputed after every stock change) and
-- what it was last told. `revision` counts recomputations; a push that started at revision N
-- clears `pending` only if no recomputation came after it.
CREATE TABLE stock_offers (
    store_id INTEGER NOT NULL REFERENCES stores (id),
    sku_id INTEGER NOT NULL REFERENCES skus (id),
    offered INTEGER NOT NULL,
    adjustment INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL DEFAULT 1,
    pushed_quantity INTEGER,
    pushed_revision INTEGER,
    pushed_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, sku_id)
);
CREATE INDEX stock_offers_due ON stock_offers (pending, next_attempt_at);

ALTER TABLE stores ADD COLUMN products_pulled_at INTEGER;
