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
