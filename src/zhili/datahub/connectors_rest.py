"""REST pull: paged JSON over HTTP as a :class:`~zhili.datahub.rows.RowStream`, resumable from a cursor.

Paging, in this order of preference:

* **next link** — the URL of the next page in the body (``next_key``, a dotted path; by default ``next``,
  ``next_url``, ``links.next``, ``paging.next``) or in the ``Link: <…>; rel="next"`` header;
* **offset** — ``offset_param`` (with ``limit_param`` = ``page_size``) grows by the rows received;
* **page** — ``page_param`` (with ``limit_param``) counts pages from ``first_page``;

until a page comes back empty (or without a next link, in next-link mode). Items are found as in JSON files
(:func:`~zhili.datahub.connectors_json.find_items`, or ``items_key``), nested objects flattened to dotted keys.

Row numbers count rows from 1 across pages (``offset + position`` in offset mode), so they are the same on a
resumed pull. ``cursor`` is a short JSON text (fit for ``Import.cursor``) naming the page being read, the rows
before it and the rows of it already yielded: read after a row was yielded, it resumes right after that row —
``rest_pull(url, …, cursor=stream.cursor)`` yields exactly the remaining rows. It is None once the pull is done.

Network trouble is retried with exponential back-off (5xx, 429, timeouts, connection errors; ``retries`` times,
``Retry-After`` honoured up to :data:`MAX_BACKOFF`); a 4xx answer is a Chinese
:class:`~zhili.core.errors.ValidationFailed` at once. Headers (an ``Authorization`` token) are sent and never
echoed: error messages name the URL without its query string.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from zhili.core.errors import ValidationFailed
from zhili.datahub.connectors_base import Closing
from zhili.datahub.connectors_json import find_items, item_row, union_columns
from zhili.datahub.rows import RawRow

MAX_BACKOFF = 30.0
MAX_PAGE_BYTES = 32 * 1024 * 1024
NEXT_KEYS = ("next", "next_url", "nextUrl", "links.next", "paging.next", "_links.next.href")
TOTAL_KEYS = ("total", "count", "total_count", "totalCount", "data.total", "data.count", "meta.total")


def _safe_url(url: str) -> str:
    """The URL as it may be shown: no query string (it may carry a token), no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _dig(body: Any, path: str) -> Any:
    node = body
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _with_params(url: str, params: dict[str, Any]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class RestStream(Closing):
    """Rows of a paged JSON API (see the module docstring). Create it with :func:`rest_pull`; the first page is
    fetched at once, so a refused token or a wrong URL fails before any row is read."""

    encoding: str | None = "utf-8"

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, items_key: str | None = None,
                 next_key: str | None = None, offset_param: str | None = None, page_param: str | None = None,
                 limit_param: str | None = None, page_size: int = 100, first_page: int = 1,
                 total_key: str | None = None, cursor: str | None = None, max_pages: int | None = None,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
                 client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValidationFailed("接口地址必须以 http:// 或 https:// 开头", code="hub_rest_bad_url")
        if offset_param and page_param:
            raise ValidationFailed("偏移量分页和页码分页只能选一种", code="hub_rest_bad_paging")
        self.url, self.items_key, self.next_key, self.total_key = url, items_key, next_key, total_key
        self.offset_param, self.page_param, self.limit_param = offset_param, page_param, limit_param
        self.page_size, self.first_page, self.max_pages = page_size, first_page, max_pages
        self.retries, self.backoff, self._sleep = retries, backoff, sleep
        self._client = client or httpx.Client(timeout=timeout, headers=headers or {}, follow_redirects=True)
        self._own_client = client is None
        if client is not None and headers:
            self._client.headers.update(headers)
        self.columns: list[str] = []
        self.notes: list[str] = []
        self.pages_read = 0
        self.rows_done = 0
        self.total: int | None = None
        # the page being read: its request (url or offset/page number), rows before it, rows of it yielded
        state = self._parse_cursor(cursor) if cursor else {"ref": self._first_ref(), "base": 0, "skip": 0}
        self._ref: Any = state["ref"]
        self._base: int = int(state["base"])
        self._skip: int = int(state["skip"])
        self._done = False
        try:
            self._page = self._fetch(self._ref)
        except BaseException:
            self.close()
            raise

    # -- cursor -------------------------------------------------------------------------------------------------

    def _first_ref(self) -> Any:
        if self.offset_param:
            return 0
        if self.page_param:
            return self.first_page
        return self.url

    def _parse_cursor(self, cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(cursor)
            ok = isinstance(state, dict) and {"ref", "base", "skip"} <= state.keys()
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ValidationFailed("续传位置无法识别，请从头重新拉取", code="hub_rest_bad_cursor")
        return state

    @property
    def cursor(self) -> str | None:
        """Where to resume: right after the last row yielded (None once every page was read)."""
        if self._done:
            return None
        return json.dumps({"ref": self._ref, "base": self._base, "skip": self._skip}, separators=(",", ":"))

    # -- fetching -----------------------------------------------------------------------------------------------

    def _request_url(self, ref: Any) -> str:
        params: dict[str, Any] = {}
        if self.offset_param:
            params[self.offset_param] = ref
        elif self.page_param:
            params[self.page_param] = ref
        else:
            return str(ref)
        if self.limit_param:
            params[self.limit_param] = self.page_size
        return _with_params(self.url, params)

    def _get(self, url: str) -> httpx.Response:
        shown = _safe_url(url)
        for attempt in range(self.retries + 1):
            wait = min(self.backoff * 2 ** attempt, MAX_BACKOFF)
            try:
                resp = self._client.get(url)
            except (httpx.TimeoutException, httpx.TransportError):
                if attempt == self.retries:
                    raise ValidationFailed(f"接口 {shown} 连接失败或超时（已重试 {self.retries} 次），请稍后再试",
                                           code="hub_rest_unavailable") from None
                self._sleep(wait)
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                if attempt == self.retries:
                    raise ValidationFailed(f"接口 {shown} 暂时不可用（HTTP {resp.status_code}，已重试 "
                                           f"{self.retries} 次），请稍后再试", code="hub_rest_unavailable")
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), MAX_BACKOFF)
                self._sleep(wait)
                continue
            if resp.status_code in (401, 403):
                raise ValidationFailed(f"接口 {shown} 拒绝访问（HTTP {resp.status_code}）：请检查认证信息（令牌）"
                                       "是否正确、是否过期", code="hub_rest_denied")
            if resp.status_code == 404:
                raise ValidationFailed(f"接口 {shown} 不存在（HTTP 404），请检查地址", code="hub_rest_not_found")
            if resp.status_code >= 400:
                raise ValidationFailed(f"接口 {shown} 拒绝了请求（HTTP {resp.status_code}），请检查地址和参数",
                                       code="hub_rest_refused")
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, ref: Any) -> dict[str, Any]:
        """One page: its rows, the next page's request (None when it is the last) and the total if given."""
        url = self._request_url(ref)
        resp = self._get(url)
        if len(resp.content) > MAX_PAGE_BYTES:
            raise ValidationFailed(f"接口 {_safe_url(url)} 单页数据过大，请减小每页条数", code="hub_rest_bad_body")
        try:
            body = resp.json()
        except ValueError:
            raise ValidationFailed(f"接口 {_safe_url(url)} 返回的不是 JSON", code="hub_rest_bad_body") from None
        items = find_items(body, self.items_key)
        if items is None:
            where = f"“{self.items_key}”处" if self.items_key else "顶层或 data、items、records、rows、results 下"
            raise ValidationFailed(f"接口 {_safe_url(url)} 的返回{where}没有找到记录数组", code="hub_rest_bad_body")
        self.pages_read += 1
        rows = [item_row(item, f"第{self._base + i}条记录") for i, item in enumerate(items, start=1)]
        union_columns(rows, self.columns)
        self._find_total(body)
        return {"rows": rows, "next": self._next_ref(ref, body, resp, len(rows))}

    def _find_total(self, body: Any) -> None:
        for key in (self.total_key,) if self.total_key else TOTAL_KEYS:
            value = _dig(body, key)
            if isinstance(value, int) and not isinstance(value, bool):
                self.total = value
                return

    def _next_ref(self, ref: Any, body: Any, resp: httpx.Response, count: int) -> Any:
        if count == 0:
            return None
        if self.offset_param:
            return int(ref) + count
        if self.page_param:
            return int(ref) + 1
        for key in (self.next_key,) if self.next_key else NEXT_KEYS:
            value = _dig(body, key)
            if isinstance(value, str) and value:
                return urljoin(str(ref), value)
        link = resp.links.get("next", {}).get("url")
        return urljoin(str(ref), link) if link else None

    # -- iteration ----------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        try:
            page = self._page
            while True:
                rows, nxt = page["rows"], page["next"]
                start = min(self._skip, len(rows))
                for i in range(start, len(rows)):
                    number = self._base + i + 1
                    if i == len(rows) - 1:  # the page's last row out: the cursor moves on to the next page
                        self._ref, self._base, self._skip = nxt, self._base + len(rows), 0
                        self._done = nxt is None
                    else:
                        self._skip = i + 1
                    self.rows_done += 1
                    yield number, rows[i]
                if start >= len(rows):  # nothing (left) to yield on this page
                    self._ref, self._base, self._skip = nxt, self._base + len(rows), 0
                if nxt is None:
                    self._done = True
                    return
                if self.max_pages is not None and self.pages_read >= self.max_pages:
                    return
                page = self._fetch(self._ref)
        finally:
            self.close()

    @property
    def progress(self) -> tuple[int, int | None]:
        """(rows done, rows in all when the API says so — its ``total`` — else None)."""
        return self.rows_done, self.total

    def close(self) -> None:
        if self._own_client:
            self._client.close()


def rest_pull(url: str, **options: Any) -> RestStream:
    """A :class:`RestStream` over ``url`` (options as :class:`RestStream`); pass ``cursor`` to resume."""
    return RestStream(url, **options)
