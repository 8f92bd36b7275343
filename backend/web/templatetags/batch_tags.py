from django import template

register = template.Library()


@register.filter
def clock(seconds: int | None) -> str:
    """Seconds as 4:05 or 1:02:03, the same format the waiting page's script writes."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def results_size(results: list[dict]) -> int:
    """The bytes of a file's results together."""
    return sum(result.get("size", 0) for result in results)


@register.filter
def signed_percent(change: int) -> str:
    """−80%, +12%, 0%: with a real minus sign, as the waiting page's script writes it."""
    return f"{'+' if change > 0 else '−' if change < 0 else ''}{abs(change)}%"
