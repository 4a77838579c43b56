"""iCalendar (RFC 5545) text for one group's outages, written by hand (no dependency).

Lines end in CRLF and are folded at 75 octets (RFC 5545 3.1); TEXT values escape backslash,
semicolon, comma and newline (3.3.11). Times with a zone are converted to UTC ("Z" form,
3.3.5 form #2); naive times are written as floating local times (form #1) and the zone the
user stated, if any, goes into the widely read ``X-WR-TIMEZONE`` property.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pandas as pd

from gridshield.outages.core import OFF, POSSIBLE, runs_of


def utc_stamp() -> str:
    """Now in UTC, iCalendar form (``DTSTAMP``)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def escape_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets (UTF-8 safe), continuation lines start with a space."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, cur, limit = [], b"", 75
    for ch in line:
        b = ch.encode("utf-8")
        if len(cur) + len(b) > limit:
            parts.append(cur.decode("utf-8"))
            cur, limit = b"", 74  # continuation lines carry a leading space
        cur += b
    parts.append(cur.decode("utf-8"))
    return "\r\n ".join(parts)


def fmt_time(ts: pd.Timestamp) -> str:
    if ts.tzinfo is not None:
        return ts.tz_convert("UTC").strftime("%Y%m%dT%H%M%SZ")
    return ts.strftime("%Y%m%dT%H%M%S")


def calendar_text(sched, g: int, *, include_possible: bool = True) -> str:
    """The VCALENDAR text for group row ``g`` of a :class:`~gridshield.outages.schedule.Schedule`."""
    gid, name = sched.group_ids[g], sched.group_names[g]
    stamp = utc_stamp()
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//gridshield//rotating outages//EN", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", f"X-WR-CALNAME:{escape_text(f'Power outages - group {gid}')}",
    ]
    if sched.tz:
        lines.append(f"X-WR-TIMEZONE:{sched.tz}")
    for a, b, v in runs_of(sched.state[g]):
        if v == OFF or (v == POSSIBLE and include_possible):
            start = sched.times[a]
            end = start + pd.Timedelta(hours=(b - a) * sched.step_h)
            kind = "Power off" if v == OFF else "Possible power outage"
            uid = hashlib.sha1(f"{gid}|{start.isoformat()}|{v}".encode()).hexdigest()[:20]
            desc = (f"Group {gid} ({name}): {'scheduled outage' if v == OFF else 'possible outage: off only if the deficit grows'}"
                    f" {start.strftime('%Y-%m-%d %H:%M')}-{end.strftime('%H:%M')}.")
            lines += [
                "BEGIN:VEVENT", f"UID:{uid}@gridshield", f"DTSTAMP:{stamp}",
                f"DTSTART:{fmt_time(start)}", f"DTEND:{fmt_time(end)}",
                f"SUMMARY:{escape_text(f'{kind} - group {gid}')}", f"DESCRIPTION:{escape_text(desc)}",
                f"STATUS:{'CONFIRMED' if v == OFF else 'TENTATIVE'}", "TRANSP:OPAQUE",
                f"CATEGORIES:{'OUTAGE' if v == OFF else 'POSSIBLE-OUTAGE'}", "END:VEVENT",
            ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(x) for x in lines) + "\r\n"
