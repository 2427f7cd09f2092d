"""A ticket's transcript as one self-contained HTML page (inline CSS, no scripts, no external resources)."""

from __future__ import annotations

from django.utils import translation
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#313338;color:#dbdee1;margin:0;
padding:24px}
h1{font-size:20px;margin:0 0 4px}.meta{color:#949ba4;font-size:13px;margin-bottom:20px}
.msg{padding:8px 0;border-top:1px solid #3f4147}.author{font-weight:600;color:#f2f3f5}.bot{background:#5865f2;
color:#fff;font-size:10px;border-radius:3px;padding:1px 4px;margin-left:4px}.time{color:#949ba4;font-size:12px;
margin-left:8px}.content p{margin:4px 0}.embed{border-left:4px solid #5865f2;background:#2b2d31;padding:6px 10px;
margin:4px 0;border-radius:4px}.deleted{opacity:.55}.tag{font-size:11px;color:#fa777c;margin-left:6px}
.edits{font-size:12px;color:#949ba4;margin:2px 0 0 12px}a{color:#00a8fc}
"""


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "–"


def admin_closer_text(user, *, markdown: bool) -> str:
    """How a close from the admin site names its closer: the site and the admin user's name (None: the site only).

    `markdown`: for Discord (the log note), the name as inline code, so it is never markup or a mention.
    """
    if user is None:
        return gettext("the admin site")
    name = user.get_username()
    return gettext("the admin site (%(user)s)") % {"user": f"`{name.replace('`', chr(39))}`" if markdown else name}


def render_transcript(ticket, messages, claims, answers=(), closes=()) -> str:
    """The HTML transcript of `ticket` in its guild's language: its intake answers, its earlier closes (a reopened
    ticket) and its messages."""
    config = getattr(ticket.guild, "config", None)
    with translation.override(config.language if config else "en"):
        title = gettext("Ticket #%(number)s · ticket-%(code)s") % {"number": ticket.number, "code": ticket.code}
        meta = [
            gettext("Category: %(category)s") % {"category": escape(ticket.category_name or "–")},
            gettext("Opened by %(user)s at %(when)s") % {"user": ticket.opener_id, "when": _when(ticket.created_at)},
            gettext("Closed by %(user)s at %(when)s (%(path)s)") % {
                "user": ticket.closed_by_id or (escape(admin_closer_text(ticket.closed_by_admin, markdown=False))
                                                if ticket.close_path == "admin" else "–"),
                "when": _when(ticket.closed_at),
                "path": escape(ticket.get_close_path_display())},
            gettext("Helpers: %(list)s") % {"list": ", ".join(str(c.user_id) for c in claims) or "–"},
        ]
        rows = []
        if answers:
            heading = gettext("Answers")
            items = "".join(f'<div class="embed"><strong>{escape(a.label)}</strong>{linebreaks(escape(a.value))}</div>'
                            for a in answers)
            rows.append(f'<div class="msg"><span class="author">{escape(heading)}</span>{items}</div>')
        for close in closes:
            if close.reopened_at:
                line = gettext("Closed at %(closed)s (%(path)s), reopened at %(reopened)s") % {
                    "closed": _when(close.closed_at), "path": close.get_close_path_display(),
                    "reopened": _when(close.reopened_at)}
                meta.append(escape(line))
        for message in messages:
            parts = [f'<div class="msg{" deleted" if message.deleted_at else ""}">',
                     f'<span class="author">{escape(message.author_name or message.author_id)}</span>',
                     f'<span class="time">{escape(message.author_id)}</span>' if message.author_name else "",
                     '<span class="bot">BOT</span>' if message.author_is_bot else "",
                     f'<span class="time">{_when(message.created_at)}</span>']
            if message.edited_at:
                edited = gettext("edited")
                parts.append(f'<span class="tag">{escape(edited)}</span>')
            if message.deleted_at:
                deleted = gettext("deleted at %(when)s") % {"when": _when(message.deleted_at)}
                parts.append(f'<span class="tag">{escape(deleted)}</span>')
            parts.append(f'<div class="content">{linebreaks(escape(message.content)) if message.content else ""}</div>')
            for embed in message.embeds:
                parts.append(f'<div class="embed"><strong>{escape(embed.get("title") or "")}</strong>'
                             f'{linebreaks(escape(embed.get("text") or ""))}</div>')
            for item in message.attachments:
                url, filename = escape(item.get("url", "")), escape(item.get("filename", ""))
                parts.append(f'<div>📎 <a href="{url}">{filename}</a></div>')
            for version in message.edits:
                before = gettext("before the edit:")
                parts.append(f'<div class="edits">{escape(before)} {escape(version.get("content", ""))}</div>')
            parts.append("</div>")
            rows.append("".join(parts))
        nothing = gettext("No messages.")
        empty = f"<p>{escape(nothing)}</p>"
        language = translation.get_language()
    return (f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f'<div class="meta">{"<br>".join(meta)}</div>{"".join(rows) or empty}</body></html>')
