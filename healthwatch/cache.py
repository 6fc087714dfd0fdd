"""A Redis page cache that fails open: when Redis is down, pages are served uncached.

The cache only ever holds copies of what the database can rebuild (whole public pages, API
throttle counters), so losing it is safe: a read answers "not cached", a write is dropped, and
the outage is logged (a warning at most once every OUTAGE_LOG_SECONDS per process, so an outage
does not flood the log; every failure is logged at DEBUG). Doing it here, once, keeps
try/except out of the views and covers every user of the cache (cache_page, DRF throttles).

Short socket timeouts (settings.cache_config) bound what an unreachable host costs a request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
OUTAGE_LOG_SECONDS = 30.0
_last_warning = 0.0


def _outage(operation: str, error: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= OUTAGE_LOG_SECONDS:
        _last_warning = now
        logger.warning(
            "Page cache unavailable (%s failed: %s); serving uncached.", operation, error
        )
    else:
        logger.debug("Page cache unavailable (%s failed: %s).", operation, error)


def _fail_open(method: Callable[..., Any], fallback: Callable[..., Any]) -> Callable[..., Any]:
    """`method` of RedisCache, answering `fallback(*args, **kwargs)` when Redis fails."""

    @functools.wraps(method)
    def wrapper(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, OSError) as error:
            _outage(method.__name__, error)
            return fallback(*args, **kwargs)

    return wrapper


def _default(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return kwargs.get("default", default)


def _delta(key: Any, delta: int = 1, *args: Any, **kwargs: Any) -> int:
    return int(kwargs.get("delta", delta))


def _all_keys(data: dict[Any, Any], *args: Any, **kwargs: Any) -> list[Any]:
    return list(data)  # set_many answers the keys it could not store: all of them


def _false(*args: Any, **kwargs: Any) -> bool:
    return False


def _none(*args: Any, **kwargs: Any) -> None:
    return None


def _empty(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return {}


class FailOpenRedisCache(RedisCache):
    get = _fail_open(RedisCache.get, _default)
    set = _fail_open(RedisCache.set, _none)
    add = _fail_open(RedisCache.add, _false)
    touch = _fail_open(RedisCache.touch, _false)
    delete = _fail_open(RedisCache.delete, _false)
    has_key = _fail_open(RedisCache.has_key, _false)
    incr = _fail_open(RedisCache.incr, _delta)
    get_many = _fail_open(RedisCache.get_many, _empty)
    set_many = _fail_open(RedisCache.set_many, _all_keys)
    delete_many = _fail_open(RedisCache.delete_many, _none)
    clear = _fail_open(RedisCache.clear, _none)
