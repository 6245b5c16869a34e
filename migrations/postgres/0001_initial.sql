-- Times are UTC milliseconds since the Unix epoch; money is integer minor units of `currency`.

CREATE TABLE plugins (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    world TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    component_path TEXT NOT NULL,
    manifest TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE stores (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    config TEXT NOT NULL,
    approved_origins TEXT NOT NULL DEFAULT '[]',
    sync_interval_secs BIGINT NOT NULL DEFAULT 60,
    initial_lookback_secs BIGINT NOT NULL DEFAULT 86400,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE warehouses (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE skus (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE rule_versions (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    author TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 0,
    UNIQUE (kind, version)
);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    store_id BIGINT NOT NULL REFERENCES stores (id),
    platform_order_id TEXT NOT NULL,
    platform_status TEXT NOT NULL,
    platform_status_raw TEXT NOT NULL,
    workflow_state TEXT NOT NULL,
    currency TEXT NOT NULL,
    goods_minor BIGINT NOT NULL,
    shipping_minor BIGINT NOT NULL,
    paid_minor BIGINT NOT NULL,
    buyer_nick TEXT NOT NULL,
    buyer_remark TEXT NOT NULL,
    seller_remark TEXT NOT NULL,
    receiver_name TEXT NOT NULL,
    receiver_phone TEXT NOT NULL,
    receiver_province TEXT NOT NULL,
    receiver_city TEXT NOT NULL,
    receiver_district TEXT NOT NULL,
    receiver_street TEXT NOT NULL,
    receiver_zip TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    paid_at BIGINT,
    raw_payload TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    warehouse_code TEXT,
    allocation_reason TEXT,
    allocation_rule_version BIGINT,
    review_decision TEXT,
    review_reason TEXT,
    review_rule_version BIGINT,
    exception_reason TEXT,
    decided_at BIGINT,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (store_id, platform_order_id)
);
CREATE INDEX orders_workflow ON orders (workflow_state, id);
CREATE INDEX orders_status ON orders (platform_status, id);
CREATE INDEX orders_store ON orders (store_id, id);

CREATE TABLE order_lines (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    line_no BIGINT NOT NULL,
    platform_line_id TEXT NOT NULL,
    platform_item_id TEXT NOT NULL,
    platform_sku_id TEXT NOT NULL,
    sku_code TEXT NOT NULL,
    title TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    platform_status TEXT NOT NULL,
    UNIQUE (order_id, platform_line_id)
);

-- One row per store and job kind. `window_*` and `page_token` describe a window whose pages
-- are partly stored, so a restarted process resumes at the next page instead of the first.
CREATE TABLE sync_cursors (
    store_id BIGINT NOT NULL REFERENCES stores (id),
    kind TEXT NOT NULL,
    cursor_ms BIGINT NOT NULL,
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    page_token TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, kind)
);

CREATE TABLE sync_runs (
    id BIGSERIAL PRIMARY KEY,
    store_id BIGINT NOT NULL REFERENCES stores (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    duration_ms BIGINT,
    window_start_ms BIGINT,
    window_end_ms BIGINT,
    pages BIGINT NOT NULL DEFAULT 0,
    orders_seen BIGINT NOT NULL DEFAULT 0,
    orders_created BIGINT NOT NULL DEFAULT 0,
    orders_updated BIGINT NOT NULL DEFAULT 0,
    plugin_version TEXT,
    error TEXT
);
CREATE INDEX sync_runs_store ON sync_runs (store_id, id);
