-- Times are UTC milliseconds since the Unix epoch; money is integer minor units of `currency`.

CREATE TABLE plugins (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    world TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    component_path TEXT NOT NULL,
    manifest TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE stores (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    config TEXT NOT NULL,
    approved_origins TEXT NOT NULL DEFAULT '[]',
    sync_interval_secs INTEGER NOT NULL DEFAULT 60,
    initial_lookback_secs INTEGER NOT NULL DEFAULT 86400,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE warehouses (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE skus (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE rule_versions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    author TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, version)
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    store_id INTEGER NOT NULL REFERENCES stores (id),
    platform_order_id TEXT NOT NULL,
    platform_status TEXT NOT NULL,
    platform_status_raw TEXT NOT NULL,
    workflow_state TEXT NOT NULL,
    currency TEXT NOT NULL,
    goods_minor INTEGER NOT NULL,
    shipping_minor INTEGER NOT NULL,
    paid_minor INTEGER NOT NULL,
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
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    paid_at INTEGER,
    raw_payload TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    warehouse_code TEXT,
    allocation_reason TEXT,
    allocation_rule_version INTEGER,
    review_decision TEXT,
    review_reason TEXT,
    review_rule_version INTEGER,
    exception_reason TEXT,
    decided_at INTEGER,
    first_seen_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (store_id, platform_order_id)
);
CREATE INDEX orders_workflow ON orders (workflow_state, id);
CREATE INDEX orders_status ON orders (platform_status, id);
CREATE INDEX orders_store ON orders (store_id, id);

CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    platform_line_id TEXT NOT NULL,
    platform_item_id TEXT NOT NULL,
    platform_sku_id TEXT NOT NULL,
    sku_code TEXT NOT NULL,
    title TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    platform_status TEXT NOT NULL,
    UNIQUE (order_id, platform_line_id)
);

-- One row per store and job kind. `window_*` and `page_token` describe a window whose pages
-- are partly stored, so a restarted process resumes at the next page instead of the first.
CREATE TABLE sync_cursors (
    store_id INTEGER NOT NULL REFERENCES stores (id),
    kind TEXT NOT NULL,
    cursor_ms INTEGER NOT NULL,
    window_start_ms INTEGER,
    window_end_ms INTEGER,
    page_token TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, kind)
);

CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY,
    store_id INTEGER NOT NULL REFERENCES stores (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    duration_ms INTEGER,
    window_start_ms INTEGER,
    window_end_ms INTEGER,
    pages INTEGER NOT NULL DEFAULT 0,
    orders_seen INTEGER NOT NULL DEFAULT 0,
    orders_created INTEGER NOT NULL DEFAULT 0,
    orders_updated INTEGER NOT NULL DEFAULT 0,
    plugin_version TEXT,
    error TEXT
);
CREATE INDEX sync_runs_store ON sync_runs (store_id, id);
