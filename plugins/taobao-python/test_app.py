"""Unit tests of app.py that run on the host's CPython.

They need the bindings that `componentize-py bindings` generates on the Python path, which
build.py arranges before it runs them. The tests call no host import (config, log, now-ms,
http.send), because they pass a fake gateway and a lookup function instead.
"""

import json
import unittest

import app
from componentize_py_types import Err
from wit_world.imports.types import ErrorKind, OrderStatus, TimeWindow

SECRET = "helloworld"


def example_params(sign_method):
    """Parameters of the published TOP signing example, with `sign_method` set."""
    return [
        ("method", "taobao.item.seller.get"),
        ("app_key", "12345678"),
        ("session", "test"),
        ("timestamp", "2016-01-01 12:00:00"),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", sign_method),
        ("fields", "num_iid,title,nick,price,num"),
        ("num_iid", "11223344"),
    ]


class SignTest(unittest.TestCase):
    def test_sign_text_of_example(self):
        self.assertEqual(
            app.top_sign_text(example_params("md5")),
            "app_key12345678fieldsnum_iid,title,nick,price,numformatjson"
            "methodtaobao.item.seller.getnum_iid11223344sessiontestsign_methodmd5"
            "timestamp2016-01-01 12:00:00v2.0",
        )

    def test_md5_vector(self):
        sign = app.top_sign(example_params("md5"), SECRET, "md5")
        self.assertEqual(sign, "66987CB115214E59E6EC978214934FB8")

    def test_hmac_md5_vector(self):
        sign = app.top_sign(example_params("hmac"), SECRET, "hmac")
        self.assertEqual(sign, "D56D7858309C31B6251083A874D48273")

    def test_hmac_sha256_vector(self):
        sign = app.top_sign(example_params("hmac-sha256"), SECRET, "hmac-sha256")
        self.assertEqual(
            sign, "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"
        )

    def test_sign_skips_sign_and_empty(self):
        params = example_params("md5") + [("sign", "0000"), ("partner_id", ""), ("", "x")]
        self.assertEqual(app.top_sign(params, SECRET, "md5"), "66987CB115214E59E6EC978214934FB8")

    def test_sign_sorts_by_byte_order(self):
        params = [("foobar", "4"), ("foo_bar", "3"), ("foo", "1"), ("bar", "2")]
        self.assertEqual(app.top_sign_text(params), "bar2foo1foo_bar3foobar4")


class MoneyTest(unittest.TestCase):
    def test_valid_amounts(self):
        cases = [
            ("128.05", 12805),
            ("128.5", 12850),
            ("128", 12800),
            ("0.00", 0),
            ("0.01", 1),
            ("007.10", 710),
            ("-3.20", -320),
            ("92233720368547758.07", 2**63 - 1),
        ]
        for text, fen in cases:
            with self.subTest(text=text):
                self.assertEqual(app.parse_yuan_fen(text), fen)

    def test_malformed_amounts_rejected(self):
        cases = [
            "", "-", ".", ".5", "5.", "1.2.3", "+1.00", " 1.00", "1.00 ", "1.00\n", "1,000.00",
            "1e3", "abc", "--1", "0x10", "１２", "NaN", "1_000", "128.055", "92233720368547758.08",
        ]
        for text in cases:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    app.parse_yuan_fen(text)


class TimeTest(unittest.TestCase):
    # 2016-01-01 04:00:00 UTC, which is 12:00:00 in UTC+8.
    NOON_2016_UTC8_MS = 1_451_620_800_000

    def test_parse_known_instants(self):
        self.assertEqual(app.parse_utc8("1970-01-01 08:00:00"), 0)
        self.assertEqual(app.parse_utc8("2016-01-01 12:00:00"), self.NOON_2016_UTC8_MS)
        self.assertEqual(app.parse_utc8("1970-01-01 00:00:00"), -28_800_000)

    def test_format_known_instants(self):
        self.assertEqual(app.format_utc8(0), "1970-01-01 08:00:00")
        self.assertEqual(app.format_utc8(self.NOON_2016_UTC8_MS + 999), "2016-01-01 12:00:00")
        self.assertEqual(app.format_utc8(-1), "1970-01-01 07:59:59")

    def test_round_trip(self):
        utc_ms = app.parse_utc8("1999-12-31 00:00:00")
        while utc_ms < app.parse_utc8("2031-01-01 00:00:00"):
            text = app.format_utc8(utc_ms)
            self.assertEqual(app.parse_utc8(text), utc_ms, text)
            utc_ms += 86_413_000

    def test_malformed_times_rejected(self):
        cases = [
            "", "2016-01-01", "2016-01-01T12:00:00", "2016-1-01 12:00:00",
            "2016-01-01 12:00:00\n", "2016-02-30 12:00:00", "2016-01-01 24:00:00",
            "2016-13-01 00:00:00", "２016-01-01 12:00:00",
        ]
        for text in cases:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    app.parse_utc8(text)


class PagingTest(unittest.TestCase):
    def test_page_count_rounds_up(self):
        for total, size, pages in [(0, 50, 1), (1, 50, 1), (50, 50, 1), (51, 50, 2), (7, 1, 7)]:
            self.assertEqual(app.page_count(total, size), pages, (total, size))

    def test_token_counts_down(self):
        self.assertEqual(app.token_after(3), "page:2")
        self.assertEqual(app.token_after(2), "page:1")
        self.assertIsNone(app.token_after(1))
        self.assertEqual(app.parse_token("page:12"), 12)

    def test_malformed_tokens_rejected(self):
        for token in ["", "page:", "page:0", "page:01", "page:-1", "page: 1", "Page:1", "1"]:
            with self.subTest(token=token):
                with self.assertRaises(Err) as caught:
                    app.parse_token(token)
                self.assertEqual(caught.exception.value.kind, ErrorKind.INTERNAL)


class StatusTest(unittest.TestCase):
    def test_trade_statuses(self):
        cases = [
            ("WAIT_BUYER_PAY", OrderStatus.UNPAID),
            ("WAIT_SELLER_SEND_GOODS", OrderStatus.PAID),
            ("WAIT_BUYER_CONFIRM_GOODS", OrderStatus.SHIPPED),
            ("TRADE_FINISHED", OrderStatus.COMPLETED),
            ("TRADE_CLOSED", OrderStatus.REFUNDED),
            ("TRADE_CLOSED_BY_TAOBAO", OrderStatus.CLOSED),
        ]
        for status, expected in cases:
            self.assertEqual(app.map_status(status, ["NO_REFUND"]), expected, status)

    def test_open_refund_on_paid_or_shipped(self):
        for status in ["WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS"]:
            for refund in sorted(app.OPEN_REFUND_STATUSES):
                self.assertEqual(
                    app.map_status(status, ["NO_REFUND", refund]),
                    OrderStatus.REFUND_REQUESTED,
                    (status, refund),
                )

    def test_refund_ignored_elsewhere(self):
        self.assertEqual(app.map_status("TRADE_FINISHED", ["WAIT_SELLER_AGREE"]), OrderStatus.COMPLETED)
        self.assertEqual(app.map_status("WAIT_SELLER_SEND_GOODS", ["SUCCESS"]), OrderStatus.PAID)

    def test_unknown_status(self):
        self.assertIsNone(app.map_status("SOMETHING_NEW", []))


def error_of(body):
    try:
        app.parse_sold_trades(200, json.dumps({"error_response": body}).encode())
    except Err as caught:
        return caught.value
    raise AssertionError("parse_sold_trades raised no error for an error_response body")


class ResponseTest(unittest.TestCase):
    def test_auth_codes(self):
        for code in [25, 26, 27, 28, 29, 44]:
            error = error_of({"code": code, "msg": "Invalid session"})
            self.assertEqual(error.kind, ErrorKind.AUTH, code)
            self.assertEqual(error.platform_code, str(code))
            self.assertIsNone(error.retry_after_ms)

    def test_rate_limit_reads_ban_seconds(self):
        error = error_of(
            {"code": 7, "msg": "App Call Limited", "sub_msg": "This ban will last for 13 more seconds"}
        )
        self.assertEqual(error.kind, ErrorKind.RATE_LIMITED)
        self.assertEqual(error.retry_after_ms, 14_000)
        self.assertEqual(error.platform_code, "7")

    def test_rate_limit_default_wait(self):
        error = error_of({"code": "7", "msg": "App Call Limited"})
        self.assertEqual(error.kind, ErrorKind.RATE_LIMITED)
        self.assertEqual(error.retry_after_ms, 1000)

    def test_other_codes_are_platform(self):
        error = error_of({"code": 15, "msg": "Remote service error", "sub_code": "isv.x", "sub_msg": "later"})
        self.assertEqual(error.kind, ErrorKind.PLATFORM)
        self.assertEqual(error.platform_code, "15")
        for part in ["15", "Remote service error", "isv.x", "later"]:
            self.assertIn(part, error.message)

    def test_http_status_is_platform(self):
        with self.assertRaises(Err) as caught:
            app.parse_sold_trades(502, b"Bad Gateway")
        self.assertEqual(caught.exception.value.kind, ErrorKind.PLATFORM)
        self.assertIn("502", caught.exception.value.message)

    def test_unreadable_body_is_invalid_response(self):
        for body in [b"<html>", b"", b'{"other_response":{}}', b"[1,2]"]:
            with self.assertRaises(Err) as caught:
                app.parse_sold_trades(200, body)
            self.assertEqual(caught.exception.value.kind, ErrorKind.INVALID_RESPONSE, body)

    def test_nested_and_plain_trade_lists(self):
        nested = {SUCCESS: {"total_results": 2, "trades": {"trade": [{"tid": 1}, {"tid": 2}]}}}
        plain = {SUCCESS: {"total_results": "1", "trades": [{"tid": 1}]}}
        self.assertEqual(app.parse_sold_trades(200, json.dumps(nested).encode()), (2, [{"tid": 1}, {"tid": 2}]))
        self.assertEqual(app.parse_sold_trades(200, json.dumps(plain).encode()), (1, [{"tid": 1}]))


SUCCESS = app.SUCCESS_ROOT


def sample_trade(tid=1001, status="WAIT_SELLER_SEND_GOODS", refund_status="NO_REFUND"):
    return {
        "tid": tid,
        "tid_str": str(tid),
        "status": status,
        "created": "2024-03-01 10:00:00",
        "modified": "2024-03-01 10:05:00",
        "pay_time": "2024-03-01 10:01:00",
        "payment": "199.90",
        "total_fee": "189.90",
        "post_fee": "10.00",
        "buyer_nick": "买家",
        "receiver_mobile": "",
        "receiver_phone": "0571-1234567",
        "orders": {
            "order": [
                {
                    "oid": 5001,
                    "num_iid": 77,
                    "sku_id": "88",
                    "outer_sku_id": "SKU-1",
                    "title": "杯子",
                    "num": 2,
                    "price": "94.95",
                    "payment": "189.90",
                    "status": status,
                    "refund_status": refund_status,
                }
            ]
        },
    }


class ConvertTest(unittest.TestCase):
    def test_convert_trade(self):
        order = app.convert_trade(sample_trade())
        self.assertEqual(order.platform_order_id, "1001")
        self.assertEqual(order.status, OrderStatus.PAID)
        self.assertEqual(order.paid_minor, 19990)
        self.assertEqual(order.goods_minor, 18990)
        self.assertEqual(order.shipping_minor, 1000)
        self.assertEqual(order.currency, "CNY")
        self.assertEqual(order.created_at_ms, app.parse_utc8("2024-03-01 10:00:00"))
        self.assertEqual(order.created_at_ms, 1_709_258_400_000)
        self.assertEqual(order.receiver.phone, "0571-1234567")
        self.assertEqual(json.loads(order.raw), sample_trade())
        line = order.lines[0]
        self.assertEqual(line.platform_line_id, "5001")
        self.assertEqual(line.quantity, 2)
        self.assertEqual(line.unit_price_minor, 9495)
        self.assertEqual(line.total_minor, 18990)
        self.assertEqual(line.platform_status, "WAIT_SELLER_SEND_GOODS")

    def test_open_refund_marks_order_and_line(self):
        order = app.convert_trade(sample_trade(refund_status="WAIT_SELLER_AGREE"))
        self.assertEqual(order.status, OrderStatus.REFUND_REQUESTED)
        self.assertEqual(order.lines[0].platform_status, "WAIT_SELLER_SEND_GOODS/WAIT_SELLER_AGREE")

    def test_invalid_fields_rejected(self):
        cases = [
            ("payment", 199.9),
            ("payment", "199.999"),
            ("created", "2024-03-01T10:00:00"),
            ("status", "SOMETHING_NEW"),
            ("modified", None),
        ]
        for field, value in cases:
            trade = sample_trade()
            trade[field] = value
            with self.subTest(field=field, value=value):
                with self.assertRaises(Err) as caught:
                    app.convert_trade(trade)
                self.assertEqual(caught.exception.value.kind, ErrorKind.INVALID_RESPONSE)
                self.assertIn("trade 1001", caught.exception.value.message)


class FakeGateway:
    """Fake TOP router that returns one page of a fixed list of trades for each request."""

    def __init__(self, trades, page_size):
        self.trades = trades
        self.page_size = page_size
        self.requests = []

    def post_form(self, url, fields):
        params = dict(fields)
        self.requests.append(params)
        page_no = int(params["page_no"])
        start = (page_no - 1) * self.page_size
        page = self.trades[start : start + self.page_size]
        body = {SUCCESS: {"total_results": len(self.trades), "trades": {"trade": page}}}
        return app.http.Response(status=200, headers=[], body=json.dumps(body).encode())

    def now_ms(self):
        return TimeTest.NOON_2016_UTC8_MS

    def debug(self, message):
        pass


def settings(page_size=2, sign_method="md5"):
    values = {"app_key": "k", "app_secret": "s", "session": "t", "page_size": str(page_size),
              "sign_method": sign_method, "endpoint": "http://127.0.0.1:1/router/rest"}
    return app.Settings.load(values.get)


class PullTest(unittest.TestCase):
    WINDOW = TimeWindow(start_ms=TimeTest.NOON_2016_UTC8_MS, end_ms=TimeTest.NOON_2016_UTC8_MS + 1_800_000)

    def test_pages_from_last_to_first(self):
        gateway = FakeGateway([sample_trade(tid) for tid in range(1, 6)], page_size=2)
        seen, token = [], None
        while True:
            page = app.pull_page(settings(), gateway, self.WINDOW, token)
            seen.extend(order.platform_order_id for order in page.orders)
            token = page.next_page_token
            if token is None:
                break
        self.assertEqual(sorted(seen, key=int), ["1", "2", "3", "4", "5"])
        self.assertEqual([r["page_no"] for r in gateway.requests], ["1", "3", "2", "1"])
        self.assertEqual(gateway.requests[0]["fields"], "tid")

    def test_request_bounds_and_signature(self):
        gateway = FakeGateway([sample_trade()], page_size=2)
        app.pull_page(settings(), gateway, self.WINDOW, None)
        request = gateway.requests[0]
        self.assertEqual(request["start_modified"], "2016-01-01 12:00:00")
        self.assertEqual(request["end_modified"], "2016-01-01 12:29:59")
        self.assertEqual(request["timestamp"], "2016-01-01 12:00:00")
        fields = [(name, value) for name, value in request.items() if name != "sign"]
        self.assertEqual(request["sign"], app.top_sign(fields, "s", "md5"))

    def test_empty_window_sends_nothing(self):
        gateway = FakeGateway([], page_size=2)
        window = TimeWindow(start_ms=5, end_ms=5)
        page = app.pull_page(settings(), gateway, window, None)
        self.assertEqual(page.orders, [])
        self.assertIsNone(page.next_page_token)
        self.assertEqual(gateway.requests, [])

    def test_window_without_trades(self):
        gateway = FakeGateway([], page_size=2)
        page = app.pull_page(settings(), gateway, self.WINDOW, None)
        self.assertEqual(page.orders, [])
        self.assertIsNone(page.next_page_token)
        self.assertEqual(len(gateway.requests), 1)


class SettingsTest(unittest.TestCase):
    REQUIRED = {"app_key": "12345678", "app_secret": "helloworld", "session": "test"}

    def test_defaults(self):
        loaded = app.Settings.load(self.REQUIRED.get)
        self.assertEqual(loaded.endpoint, app.DEFAULT_ENDPOINT)
        self.assertEqual(loaded.sign_method, "hmac-sha256")
        self.assertEqual(loaded.page_size, 50)

    def test_missing_required_fields(self):
        for skipped in self.REQUIRED:
            values = {name: value for name, value in self.REQUIRED.items() if name != skipped}
            with self.assertRaises(Err) as caught:
                app.Settings.load(values.get)
            self.assertEqual(caught.exception.value.kind, ErrorKind.INVALID_CONFIG)
            self.assertIn(f"`{skipped}`", caught.exception.value.message)

    def test_invalid_values(self):
        cases = [("page_size", "0"), ("page_size", "101"), ("page_size", "ten"),
                 ("page_size", "１０"), ("sign_method", "sha1"), ("endpoint", "gw.api.taobao.com")]
        for field, value in cases:
            with self.subTest(field=field, value=value):
                with self.assertRaises(Err) as caught:
                    app.Settings.load(dict(self.REQUIRED, **{field: value}).get)
                self.assertEqual(caught.exception.value.kind, ErrorKind.INVALID_CONFIG)

    def test_repr_hides_secrets(self):
        loaded = app.Settings.load(self.REQUIRED.get)
        self.assertNotIn("helloworld", repr(loaded))


if __name__ == "__main__":
    unittest.main()
