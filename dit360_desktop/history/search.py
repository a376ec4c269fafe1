"""Turning what the user types into a safe FTS5 query and SQL filter, and finding entries by a metadata
value."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

ORDERS = {
    "newest": "created_at DESC, id DESC",
    "oldest": "created_at ASC, id ASC",
}

_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Every word must match, as a prefix ("sun" finds "sunset"), in the prompt or the tags.

    Each word is quoted, so FTS5 syntax typed by the user (AND, NEAR, quotes, ``*``, ``:``) is treated as
    plain text and can never raise a syntax error. Returns None when the text has no words.
    """
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    phrases = " AND ".join(f'"{token}"*' for token in tokens)
    return f"{{prompt tags}} : ({phrases})"


def where_clause(text: str, favorites_only: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    query = fts_query(text)
    if query is not None:
        match = "id IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?)"
        stripped = text.strip()
        if stripped.isdigit():
            # A bare number also finds the panorama with that seed.
            clauses.append(f"({match} OR seed = ?)")
            params.extend([query, int(stripped)])
        else:
            clauses.append(match)
            params.append(query)
    if favorites_only:
        clauses.append("favorite = 1")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def order_clause(order: str) -> str:
    try:
        return " ORDER BY " + ORDERS[order]
    except KeyError:
        raise ValueError(f"order must be one of {', '.join(ORDERS)} (got {order!r})") from None


def normalise_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Trim, drop empties and case-insensitive duplicates, keep the user's order and spelling."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"tags must be strings (got {type(tag).__name__})")
        clean = " ".join(tag.replace(",", " ").split())
        if clean and clean.casefold() not in seen:
            seen.add(clean.casefold())
            result.append(clean)
    return result


def ids_by_metadata(conn: sqlite3.Connection, key: str) -> dict[str, int]:
    """Entry id by the value of ``key`` in the metadata, for every entry whose metadata has it. Takes the
    connection because the library's own and the batch claims' (``history/job_claims.py``, inside its
    transaction) both ask."""
    if not key.isidentifier():  # it goes into the JSON path, so only a plain name
        raise ValueError(f"not a metadata key: {key!r}")
    rows = conn.execute(
        f"SELECT id, json_extract(metadata, '$.{key}') FROM entries "
        f"WHERE json_extract(metadata, '$.{key}') IS NOT NULL"
    ).fetchall()
    return {str(value): int(entry_id) for entry_id, value in rows}
