-- Rules ask how many earlier orders a buyer placed in the same store.
CREATE INDEX orders_buyer ON orders (store_id, buyer_nick);
