from django.core.cache import cache


def allow(key: str, *, limit: int, period_seconds: int) -> bool:
    """Count one attempt against `key` and say whether it is within `limit` per period. The
    count lives in the shared cache, so every web process sees the same number."""
    cache_key = f"kapflow:rate:{key}"
    cache.add(cache_key, 0, period_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, period_seconds)
        count = 1
    return count <= limit
