-- Stock: a ledger of movements per SKU and warehouse, the levels derived from it, reservations of
-- order lines, store listings mapped to our SKUs, and what each store is offered and was told.

-- A SKU is stock-managed once it has had a movement; until then orders for it reserve nothing.
ALTER TABLE skus ADD COLUMN stock_tracked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE skus ADD COLUMN low_stock_threshold BIGINT NOT NULL DEFAULT 5;
-- Bumped by every stock change of the SKU; the update also locks the row, so changes to one SKU
-- are serialised and its offers are always computed from committed levels.
ALTER TABLE skus ADD COLUMN stock_revision BIGINT NOT NULL DEFAULT 0;

-- Warehouses a store sells from; a store with no rows sells from every warehouse.
CREATE TABLE store_warehouses (
    store_id BIGINT NOT NULL REFERENCES stores (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    PRIMARY KEY (store_id, warehouse_id)
);

CREATE TABLE bins (
    id BIGSERIAL PRIMARY KEY,
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    code TEXT NOT NULL,
    UNIQUE (warehouse_id, code)
);

-- A store's listing (platform item and SKU) and the SKU of ours it sells.
CREATE TABLE store_listings (
    store_id BIGINT NOT NULL REFERENCES stores (id),
    platform_item_id TEXT NOT NULL,
    platform_sku_id TEXT NOT NULL,
    sku_code TEXT NOT NULL,
    title TEXT NOT NULL,
    sku_name TEXT NOT NULL,
    platform_quantity BIGINT NOT NULL,
    sku_id BIGINT REFERENCES skus (id),
    pulled_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, platform_item_id, platform_sku_id)
);
CREATE INDEX store_listings_sku ON store_listings (sku_id);

CREATE TABLE stock_levels (
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    on_hand BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    bin TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sku_id, warehouse_id),
    CHECK (reserved >= 0 AND on_hand >= reserved)
);

CREATE TABLE stock_movements (
    id BIGSERIAL PRIMARY KEY,
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    kind TEXT NOT NULL,
    on_hand_delta BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    order_id BIGINT,
    order_line_id BIGINT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX stock_movements_sku ON stock_movements (sku_id, warehouse_id, id);

-- One row per order line that holds stock. The key makes a repeated delivery reserve once.
CREATE TABLE reservations (
    order_line_id BIGINT PRIMARY KEY REFERENCES order_lines (id),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    store_id BIGINT NOT NULL REFERENCES stores (id),
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses (id),
    quantity BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX reservations_order ON reservations (order_id);
CREATE INDEX reservations_sales ON reservations (sku_id, store_id, created_at);

-- What each store is offered of each SKU (`offered`, recomputed after every stock change) and
-- what it was last told. `revision` counts recomputations; a push that started at revision N
-- clears `pending` only if no recomputation came after it.
CREATE TABLE stock_offers (
    store_id BIGINT NOT NULL REFERENCES stores (id),
    sku_id BIGINT NOT NULL REFERENCES skus (id),
    offered BIGINT NOT NULL,
    adjustment BIGINT NOT NULL DEFAULT 0,
    revision BIGINT NOT NULL DEFAULT 0,
    pending BIGINT NOT NULL DEFAULT 1,
    pushed_quantity BIGINT,
    pushed_revision BIGINT,
    pushed_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, sku_id)
);
CREATE INDEX stock_offers_due ON stock_offers (pending, next_attempt_at);

ALTER TABLE stores ADD COLUMN products_pulled_at BIGINT;
