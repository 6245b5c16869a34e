"""Shopkeeper connector for the Taobao Open Platform (TOP), written in Python.

It is a small counterpart of the Rust connector in plugins/taobao and implements the same
``shopkeeper:connector@0.1.0`` world: it pulls sold trades with
``taobao.trades.sold.increment.get`` and converts them into canonical orders. componentize-py
turns this module into a WASI 0.2 component. All HTTP goes through the host's ``http.send``
import, because the sandbox has no sockets.

TOP writes times as ``yyyy-MM-dd HH:mm:ss`` in UTC+8 and money as yuan strings with two
decimals. Times become UTC milliseconds and money becomes integer fen, without floats.
"""

import hashlib
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, http
from wit_world.imports.types import (
    Address,
    ConnectorError,
    ErrorKind,
    Order,
    OrderLine,
    OrderPage,
    OrderStatus,
    TimeWindow,
)

# TOP method that lists the seller's trades by modified time.
METHOD = "taobao.trades.sold.increment.get"
# Trade fields that convert_trade reads. `orders` requests every field of each line.
TRADE_FIELDS = (
    "tid,tid_str,status,type,created,modified,pay_time,payment,total_fee,post_fee,buyer_nick,"
    "buyer_message,seller_memo,receiver_name,receiver_state,receiver_city,receiver_district,"
    "receiver_town,receiver_address,receiver_zip,receiver_mobile,receiver_phone,orders"
)
# Field list of the first request of a window, which only counts the trades.
COUNT_FIELDS = "tid"
# Root key of a successful response of METHOD.
SUCCESS_ROOT = "trades_sold_increment_get_response"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=utf-8"

DEFAULT_ENDPOINT = "https://gw.api.taobao.com/router/rest"
DEFAULT_SIGN_METHOD = "hmac-sha256"
DEFAULT_PAGE_SIZE = 50
# Maximum `page_size` that METHOD accepts.
MAX_PAGE_SIZE = 100

# Currency of every Taobao and Tmall trade. Its minor unit is the fen, 1/100 yuan.
CURRENCY = "CNY"
I64_MAX = 2**63 - 1
UTC8 = timezone(timedelta(hours=8))
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)

# TOP codes of rejected credentials: 25 invalid signature, 26 missing session, 27 invalid
# session, 28 missing app key, 29 invalid app key and 44 invalid access token.
AUTH_CODES = frozenset({25, 26, 27, 28, 29, 44})
# TOP code 7, "App Call Limited".
RATE_LIMIT_CODE = 7
# Wait used when a rate-limit error does not say how long the ban lasts.
DEFAULT_RETRY_AFTER_MS = 1000
# Number of body characters quoted in errors about unreadable responses.
BODY_EXCERPT_CHARS = 200

PAGE_TOKEN_PREFIX = "page:"
# Line `refund_status` of a line with no refund.
NO_REFUND = "NO_REFUND"
# Line `refund_status` values of a refund that the buyer requested and that is still open.
OPEN_REFUND_STATUSES = frozenset(
    {"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"}
)
# Canonical status of each TOP trade `status`, the same table as the Rust connector's.
# TRADE_CLOSED is `refunded` because TOP closes a paid trade after a full refund, while
# TRADE_CLOSED_BY_TAOBAO closes a trade before payment.
TRADE_STATUSES = {
    "WAIT_BUYER_PAY": OrderStatus.UNPAID,
    "TRADE_NO_CREATE_PAY": OrderStatus.UNPAID,
    "PAY_PENDING": OrderStatus.UNPAID,
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.UNPAID,
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.COMPLETED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.REFUNDED,
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CLOSED,
}

TIME_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
MONEY_PATTERN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,2}))?")
DIGITS_PATTERN = re.compile(r"[0-9]+")
BAN_SECONDS_PATTERN = re.compile(r"last for\s*([0-9]+)")


def connector_error(kind, message, platform_code=None, retry_after_ms=None):
    """Build the exception that componentize-py returns as the `err` case of pull-orders."""
    return Err(ConnectorError(kind, message, platform_code, retry_after_ms))


# Settings


@dataclass(repr=False)
class Settings:
    """Validated connector settings of one store, as plugin.toml declares them.

    It has no field-listing `repr`, because app_secret and session are secrets.
    """

    endpoint: str
    app_key: str
    app_secret: str
    session: str
    sign_method: str
    page_size: int

    @staticmethod
    def load(lookup: Callable[[str], Optional[str]]) -> "Settings":
        """Read and validate the settings, calling `lookup` once for each field.

        Optional fields that are unset or blank take the manifest's default. Raises an
        `invalid-config` error naming the field when a value is missing or malformed.
        """

        def optional(name):
            value = lookup(name)
            if value is None or not value.strip():
                return None
            return value

        endpoint = optional("endpoint") or DEFAULT_ENDPOINT
        if not endpoint.startswith(("https://", "http://")):
            raise invalid_value("endpoint", endpoint, "expected an http or https URL")

        required = {}
        for name in ("app_key", "app_secret", "session"):
            value = optional(name)
            if value is None:
                raise connector_error(
                    ErrorKind.INVALID_CONFIG,
                    f"configuration field `{name}` is missing; set it in the store's Taobao settings",
                )
            required[name] = value

        sign_method = (optional("sign_method") or DEFAULT_SIGN_METHOD).strip()
        if sign_method not in ("md5", "hmac", "hmac-sha256"):
            raise invalid_value("sign_method", sign_method, "expected md5, hmac or hmac-sha256")

        page_size_text = optional("page_size")
        page_size = DEFAULT_PAGE_SIZE
        if page_size_text is not None:
            digits = page_size_text.strip()
            if not DIGITS_PATTERN.fullmatch(digits) or not 1 <= int(digits) <= MAX_PAGE_SIZE:
                raise invalid_value(
                    "page_size", page_size_text, "expected a whole number from 1 to 100"
                )
            page_size = int(digits)

        return Settings(endpoint=endpoint, sign_method=sign_method, page_size=page_size, **required)


def invalid_value(field, value, expected):
    return connector_error(
        ErrorKind.INVALID_CONFIG,
        f"configuration field `{field}` has invalid value {value!r}: {expected}",
    )


# Signing


def top_sign_text(params: List[Tuple[str, str]]) -> str:
    """Build the text that TOP signs.

    It contains every parameter except `sign` whose name and value are both non-empty, sorted
    by name in byte order, each written as name then value with no separator.
    """
    signed = [(name, value) for name, value in params if name != "sign" and name and value]
    signed.sort(key=lambda pair: pair[0].encode())
    return "".join(name + value for name, value in signed)


def top_sign(params: List[Tuple[str, str]], secret: str, method: str) -> str:
    """Compute the TOP `sign` parameter as uppercase hex.

    `md5` hashes secret + text + secret, `hmac` is HMAC-MD5 and `hmac-sha256` is HMAC-SHA256,
    both keyed with the secret.
    """
    text = top_sign_text(params).encode()
    key = secret.encode()
    if method == "md5":
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"invalid sign method {method!r}: expected md5, hmac or hmac-sha256")
    return digest.upper()


# Times and money


def floor_to_second(utc_ms: int) -> int:
    """Round down to a whole second. Floor division also rounds times before 1970 down."""
    return utc_ms // 1000 * 1000


def format_utc8(utc_ms: int) -> str:
    """Format UTC milliseconds as `yyyy-MM-dd HH:mm:ss` in UTC+8, dropping the milliseconds."""
    local = (EPOCH + timedelta(milliseconds=floor_to_second(utc_ms))).astimezone(UTC8)
    return (
        f"{local.year:04}-{local.month:02}-{local.day:02} "
        f"{local.hour:02}:{local.minute:02}:{local.second:02}"
    )


def parse_utc8(text: str) -> int:
    """Parse `yyyy-MM-dd HH:mm:ss` in UTC+8 into UTC milliseconds.

    Raises ValueError naming the text when the shape is different or the date does not exist.
    """
    match = TIME_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid time {text!r}: expected the format yyyy-MM-dd HH:mm:ss")
    try:
        local = datetime(*(int(part) for part in match.groups()), tzinfo=UTC8)
    except ValueError as error:
        raise ValueError(f"invalid time {text!r}: {error}") from None
    return (local - EPOCH) // ONE_MS


def parse_yuan_fen(text: str) -> int:
    """Parse a yuan amount such as "128.05" into integer fen (12805) with integer arithmetic.

    The text is an optional `-`, ASCII digits and optionally `.` with one or two digits. Raises
    ValueError naming the text for anything else or for an amount outside the signed 64-bit range.
    """
    match = MONEY_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid decimal amount {text!r}: expected digits with at most 2 decimal places"
        )
    sign, whole, fraction = match.groups()
    fen = int(whole) * 100 + int((fraction or "").ljust(2, "0"))
    if fen > I64_MAX:
        raise ValueError(f"invalid decimal amount {text!r}: amount is too large")
    return -fen if sign else fen


# Paging
#
# TOP returns the trades of a window newest first. When a trade changes during the pull, it
# leaves the window and every older trade moves one place forward in the list. Paging from
# the last page to the first means such a shift can only repeat a trade on the next page,
# never skip one. A token `page:K` names the next page to fetch, counting down to 1.


def page_count(total_results: int, page_size: int) -> int:
    """Return the number of pages that `total_results` trades fill, at least 1."""
    return max(1, -(-total_results // page_size))


def token_after(page_no: int) -> Optional[str]:
    """Return the token of the page fetched after `page_no`, or None after page 1."""
    return f"{PAGE_TOKEN_PREFIX}{page_no - 1}" if page_no > 1 else None


def parse_token(token: str) -> int:
    """Parse a token of token_after into its page number, raising `internal` when malformed."""
    digits = token[len(PAGE_TOKEN_PREFIX) :] if token.startswith(PAGE_TOKEN_PREFIX) else ""
    if not DIGITS_PATTERN.fullmatch(digits) or digits.startswith("0"):
        raise connector_error(
            ErrorKind.INTERNAL,
            f"invalid page token {token!r}: expected `page:N` with N a page number from 1",
        )
    return int(digits)


# Responses


def json_type(value) -> str:
    """Return the JSON type name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    if len(text) > BODY_EXCERPT_CHARS:
        return text[:BODY_EXCERPT_CHARS] + "..."
    return text


def parse_sold_trades(status: int, body: bytes) -> Tuple[Optional[int], list]:
    """Parse one response of METHOD into `(total_results, trades)`.

    Raises `platform` for an HTTP status other than 200, `invalid-response` for a body that is
    not the expected JSON, and the error of error_from_response for an `error_response`.
    """
    if status != 200:
        raise connector_error(
            ErrorKind.PLATFORM, f"TOP router returned HTTP status {status}: {excerpt(body)}"
        )
    try:
        root = json.loads(body)
    except ValueError as error:
        raise connector_error(
            ErrorKind.INVALID_RESPONSE,
            f"TOP response is not valid JSON ({error}): {excerpt(body)}",
        ) from None
    if isinstance(root, dict) and "error_response" in root:
        raise error_from_response(root["error_response"])
    result = root.get(SUCCESS_ROOT) if isinstance(root, dict) else None
    if not isinstance(result, dict):
        raise connector_error(
            ErrorKind.INVALID_RESPONSE,
            f"TOP response has neither `{SUCCESS_ROOT}` nor `error_response`: {excerpt(body)}",
        )
    return read_total_results(result), read_trades(result)


def read_total_results(result: dict) -> Optional[int]:
    total = result.get("total_results")
    if total is None:
        return None
    if isinstance(total, str) and DIGITS_PATTERN.fullmatch(total):
        return int(total)
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    raise connector_error(
        ErrorKind.INVALID_RESPONSE,
        f"TOP response has invalid `total_results` {total!r}: expected a whole number",
    )


def read_trades(result: dict) -> list:
    """Read `trades`, which the default JSON format nests as {"trade": [...]} and the
    `simplify=true` format writes as a plain list. TOP leaves it out when the page is empty."""
    trades = result.get("trades")
    if isinstance(trades, dict):
        trades = trades.get("trade")
    if trades is None:
        return []
    if not isinstance(trades, list):
        raise connector_error(
            ErrorKind.INVALID_RESPONSE,
            f"TOP response has invalid `trades`: expected a list, found {json_type(trades)}",
        )
    return trades


def error_from_response(error) -> Err:
    """Convert a TOP `error_response` object into a connector error.

    Codes 25 to 29 and 44, and sub-codes about an invalid session or a signature, are `auth`.
    Code 7 is `rate-limited` with a wait of N + 1 seconds when `sub_msg` contains "ban will last
    for N more seconds", and of one second otherwise. Other codes are `platform`.
    """
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    code = str(code) if isinstance(code, (int, str)) and not isinstance(code, bool) else ""

    def text_field(name):
        value = error.get(name)
        return value if isinstance(value, str) else ""

    msg, sub_code, sub_msg = text_field("msg"), text_field("sub_code"), text_field("sub_msg")
    message = (
        f"TOP error code {code or '(none)'}: {msg} (sub_code: {sub_code}, sub_msg: {sub_msg})"
    )
    numeric_code = int(code) if DIGITS_PATTERN.fullmatch(code) else None
    retry_after_ms = None
    if numeric_code in AUTH_CODES:
        kind = ErrorKind.AUTH
    elif numeric_code == RATE_LIMIT_CODE:
        kind = ErrorKind.RATE_LIMITED
        ban = BAN_SECONDS_PATTERN.search(sub_msg)
        retry_after_ms = (int(ban.group(1)) + 1) * 1000 if ban else DEFAULT_RETRY_AFTER_MS
    elif "invalid-session" in sub_code or "signature" in sub_code:
        kind = ErrorKind.AUTH
    else:
        kind = ErrorKind.PLATFORM
    return connector_error(kind, message, code or None, retry_after_ms)


# Conversion


class Fields:
    """Typed access to the fields of one trade or line, with errors that name it."""

    def __init__(self, values: dict, context: str):
        self.values = values
        # Names the trade or line in error messages, such as `trade 123 line 456`.
        self.context = context

    def text(self, name: str) -> str:
        """Return a string or integer field as text, or "" when it is missing or null."""
        value = self.values.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self.invalid(name, f"expected text, found {json_type(value)}")

    def required_text(self, name: str) -> str:
        text = self.text(name)
        if not text:
            raise connector_error(
                ErrorKind.INVALID_RESPONSE, f"{self.context}: missing field `{name}`"
            )
        return text

    def money(self, name: str, required: bool) -> int:
        """Return a yuan field in fen. An optional field that is missing or empty is 0."""
        text = self.required_text(name) if required else self.text(name)
        if not text:
            return 0
        try:
            return parse_yuan_fen(text)
        except ValueError as error:
            raise self.invalid(name, str(error)) from None

    def time(self, name: str, required: bool) -> Optional[int]:
        text = self.required_text(name) if required else self.text(name)
        if not text:
            return None
        try:
            return parse_utc8(text)
        except ValueError as error:
            raise self.invalid(name, str(error)) from None

    def quantity(self, name: str) -> int:
        text = self.required_text(name)
        if not DIGITS_PATTERN.fullmatch(text) or int(text) > I64_MAX:
            raise self.invalid(name, f"invalid quantity {text!r}")
        return int(text)

    def invalid(self, name: str, reason: str) -> Err:
        return connector_error(
            ErrorKind.INVALID_RESPONSE, f"{self.context}: field `{name}`: {reason}"
        )


def first_text(values: dict, names: Tuple[str, ...], context: str) -> str:
    """Return the first of `names` whose value is a non-empty string or integer, or ""."""
    fields = Fields(values, context)
    for name in names:
        text = fields.text(name)
        if text:
            return text
    return ""


def map_status(status: str, line_refund_statuses: List[str]) -> Optional[OrderStatus]:
    """Map a TOP trade `status` to the canonical status, or None for an unknown status.

    A paid or shipped trade is `refund-requested` while any line has an open refund.
    """
    mapped = TRADE_STATUSES.get(status)
    refund_open = any(refund in OPEN_REFUND_STATUSES for refund in line_refund_statuses)
    if mapped in (OrderStatus.PAID, OrderStatus.SHIPPED) and refund_open:
        return OrderStatus.REFUND_REQUESTED
    return mapped


def line_objects(trade: dict, fields: Fields) -> List[dict]:
    """Return the lines of `orders`, which the default JSON format nests as
    {"order": [...]} and the simplified format writes as a plain list."""
    lines = trade.get("orders")
    if isinstance(lines, dict):
        lines = lines.get("order")
    if lines is None:
        return []
    if not isinstance(lines, list):
        raise fields.invalid("orders", f"expected a list of lines, found {json_type(lines)}")
    for line in lines:
        if not isinstance(line, dict):
            raise fields.invalid(
                "orders", f"expected each line to be an object, found {json_type(line)}"
            )
    return lines


def convert_line(tid: str, line: dict) -> OrderLine:
    oid = first_text(line, ("oid_str", "oid"), f"trade {tid}")
    if not oid:
        raise connector_error(
            ErrorKind.INVALID_RESPONSE, f"trade {tid}: line without field `oid`"
        )
    fields = Fields(line, f"trade {tid} line {oid}")
    status = fields.text("status")
    refund_status = fields.text("refund_status")
    if refund_status and refund_status != NO_REFUND:
        status = f"{status}/{refund_status}"
    return OrderLine(
        platform_line_id=oid,
        platform_item_id=fields.text("num_iid"),
        platform_sku_id=fields.text("sku_id"),
        sku_code=fields.text("outer_sku_id"),
        title=fields.text("title"),
        quantity=fields.quantity("num"),
        unit_price_minor=fields.money("price", required=True),
        total_minor=fields.money("payment", required=True),
        platform_status=status,
    )


def convert_trade(trade) -> Order:
    """Convert one trade object of METHOD into an Order.

    `raw` is the trade serialised again as compact JSON with sorted keys. Raises
    `invalid-response` naming the trade and field when a required field is missing or malformed
    or the status is unknown.
    """
    if not isinstance(trade, dict):
        raise connector_error(
            ErrorKind.INVALID_RESPONSE, f"TOP trade is {json_type(trade)}, expected an object"
        )
    tid = first_text(trade, ("tid_str", "tid"), "trade")
    if not tid:
        raise connector_error(
            ErrorKind.INVALID_RESPONSE, "TOP trade without `tid_str` or `tid`: missing field `tid`"
        )
    fields = Fields(trade, f"trade {tid}")
    platform_status = fields.required_text("status")
    raw_lines = line_objects(trade, fields)
    lines = [convert_line(tid, line) for line in raw_lines]
    refund_statuses = [
        line["refund_status"] for line in raw_lines if isinstance(line.get("refund_status"), str)
    ]
    status = map_status(platform_status, refund_statuses)
    if status is None:
        raise connector_error(
            ErrorKind.INVALID_RESPONSE, f"trade {tid}: unknown status {platform_status!r}"
        )

    receiver = Address(
        name=fields.text("receiver_name"),
        phone=fields.text("receiver_mobile") or fields.text("receiver_phone"),
        province=fields.text("receiver_state"),
        city=fields.text("receiver_city"),
        district=fields.text("receiver_district"),
        street=fields.text("receiver_address"),
        zip=fields.text("receiver_zip"),
    )
    return Order(
        platform_order_id=tid,
        status=status,
        platform_status=platform_status,
        currency=CURRENCY,
        goods_minor=fields.money("total_fee", required=False),
        shipping_minor=fields.money("post_fee", required=False),
        paid_minor=fields.money("payment", required=True),
        buyer_nick=fields.text("buyer_nick"),
        buyer_remark=fields.text("buyer_message"),
        seller_remark=fields.text("seller_memo"),
        receiver=receiver,
        created_at_ms=fields.time("created", required=True),
        modified_at_ms=fields.time("modified", required=True),
        paid_at_ms=fields.time("pay_time", required=False),
        lines=lines,
        raw=json.dumps(trade, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
    )


# Pulling


class HostGateway:
    """Access to the Shopkeeper host for HTTP requests, the clock and logs.

    It also adds up the time spent waiting for HTTP, so that each call can log how much of it
    ran inside the plugin.
    """

    def __init__(self):
        self.http_ms = 0

    def post_form(self, url: str, fields: List[Tuple[str, str]]) -> http.Response:
        request = http.Request(
            method="POST",
            url=url,
            headers=[("content-type", FORM_CONTENT_TYPE)],
            body=urllib.parse.urlencode(fields).encode(),
        )
        started = host.now_ms()
        try:
            return http.send(request)
        except Err as error:
            # The variant's class name, such as HttpError_TimedOut, names the failure.
            reason = type(error.value).__name__.removeprefix("HttpError_")
            raise connector_error(
                ErrorKind.NETWORK, f"POST {url} failed ({reason}): {error.value.value}"
            ) from None
        finally:
            self.http_ms += host.now_ms() - started

    def now_ms(self) -> int:
        return host.now_ms()

    def debug(self, message: str) -> None:
        host.log(host.LogLevel.DEBUG, message)


@dataclass
class WindowBounds:
    """TOP's inclusive, second-precision bounds of an end-exclusive millisecond window."""

    start_modified: str
    end_modified: str

    @staticmethod
    def from_window(window: TimeWindow) -> "WindowBounds":
        # TOP includes `end_modified`, so it is the second of the last millisecond inside the
        # window, `end_ms - 1`.
        return WindowBounds(format_utc8(window.start_ms), format_utc8(window.end_ms - 1))


def signed_params(settings, timestamp, bounds, page_no, fields) -> List[Tuple[str, str]]:
    """Build the form fields of one request, with `sign` last."""
    params = [
        ("method", METHOD),
        ("app_key", settings.app_key),
        ("session", settings.session),
        ("timestamp", timestamp),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", settings.sign_method),
        ("fields", fields),
        ("start_modified", bounds.start_modified),
        ("end_modified", bounds.end_modified),
        ("page_no", str(page_no)),
        ("page_size", str(settings.page_size)),
    ]
    params.append(("sign", top_sign(params, settings.app_secret, settings.sign_method)))
    return params


def fetch(settings, gateway, bounds, page_no, fields) -> Tuple[Optional[int], list]:
    params = signed_params(settings, format_utc8(gateway.now_ms()), bounds, page_no, fields)
    gateway.debug(f"calling {METHOD} page {page_no} fields {fields}")
    response = gateway.post_form(settings.endpoint, params)
    return parse_sold_trades(response.status, response.body)


def pull_page(settings, gateway, window: TimeWindow, page_token: Optional[str]) -> OrderPage:
    """Fetch and convert one page of the trades modified inside `window`.

    Without a token, a first request with `fields=tid` counts the window's trades, and the pull
    starts at the last page. Each token names the page before, down to page 1. A window with no
    trades returns an empty page after the counting request, and an empty window returns one
    without any request.
    """
    page_no = parse_token(page_token) if page_token is not None else None
    if window.end_ms <= window.start_ms:
        return OrderPage(orders=[], next_page_token=None)
    bounds = WindowBounds.from_window(window)

    if page_no is None:
        total, _ = fetch(settings, gateway, bounds, 1, COUNT_FIELDS)
        if total is None:
            raise connector_error(
                ErrorKind.INVALID_RESPONSE, f"TOP response to {METHOD} has no `total_results`"
            )
        if total == 0:
            return OrderPage(orders=[], next_page_token=None)
        page_no = page_count(total, settings.page_size)
        gateway.debug(
            f"window {bounds.start_modified} to {bounds.end_modified} has {total} trades "
            f"in {page_no} pages"
        )

    _, trades = fetch(settings, gateway, bounds, page_no, TRADE_FIELDS)
    orders = [convert_trade(trade) for trade in trades]
    return OrderPage(orders=orders, next_page_token=token_after(page_no))


class Pull(exports.Pull):
    """The exported `pull` interface."""

    def pull_orders(self, window: TimeWindow, page_token: Optional[str]) -> OrderPage:
        started = host.now_ms()
        gateway = HostGateway()
        try:
            page = pull_page(Settings.load(host.config), gateway, window, page_token)
        except Err:
            raise
        except Exception as error:
            # An uncaught exception would trap the instance, so it becomes an `internal` error.
            raise connector_error(
                ErrorKind.INTERNAL, f"unexpected {type(error).__name__} in the plugin: {error}"
            ) from None
        elapsed_ms = host.now_ms() - started
        gateway.debug(
            f"pull-orders returned {len(page.orders)} orders in {elapsed_ms} ms, "
            f"{elapsed_ms - gateway.http_ms} ms of it outside HTTP requests"
        )
        return page
