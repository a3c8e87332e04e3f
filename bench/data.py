"""The rows every scenario works with, as plain tuples: one definition for the seed, the
contenders and the checks, so a contender that writes a wrong value is caught.

Authors ``i`` (from 0) and books ``j`` are numbered; seeded rows get primary key
``i + 1`` / ``j + 1``, and book ``j`` belongs to author ``j % authors``.
"""

from __future__ import annotations

from datetime import date, timedelta

EPOCH = date(2000, 1, 1)


def authors(n: int) -> list[tuple[str, str]]:
    """``(name, email)`` of authors 0..n-1."""
    return [(f"author {i}", f"author{i}@example.com") for i in range(n)]


def books(n: int, authors: int) -> list[tuple[str, int, date, int]]:
    """``(title, pages, published, author index)`` of books 0..n-1."""
    return [
        (f"book {j}", 100 + j % 900, EPOCH + timedelta(days=j % 3650), j % authors)
        for j in range(n)
    ]


def updated_pages(pk: int) -> int:
    """The ``pages`` the update scenario gives the book with primary key ``pk``: a
    different value for every book, never one the seed wrote."""
    return 1000 + pk


# -- mixed: one realistic request over Author, Book, Review, Tag ------------------------

#: Rows seeded before the request.
MIXED_SEED = {"authors": 100, "books": 1000, "reviews": 2000, "tags": 1000}

#: What the request loads (primary keys 1..n), then changes or deletes.
MIXED_LOADED = {"authors": 20, "books": 100, "reviews": 90, "tags": 10}
MIXED_UPDATED = {"authors": range(1, 21), "books": range(1, 101), "reviews": range(1, 81)}
MIXED_DELETED = {"reviews": range(81, 91), "tags": range(1, 11)}

#: 5 + 10 + 25 + 10 = 50 inserts; 20 + 100 + 80 = 200 updates; 10 + 10 = 20 deletes.
MIXED_NEW = {"authors": 5, "books": 10, "reviews": 25, "tags": 10}
MIXED_OPS = 50 + 200 + 20


def review_row(k: int, books: int) -> tuple[int, int]:
    """``(book pk, stars)`` of seeded review ``k`` (primary key ``k + 1``)."""
    return (k % books + 1, 1 + k % 5)


def tag_row(k: int, books: int) -> tuple[int, str]:
    """``(book pk, name)`` of seeded tag ``k`` (primary key ``k + 1``)."""
    return (k % books + 1, f"tag {k % 20}")


def mixed_new_email(pk: int) -> str:
    return f"new{pk}@example.com"


def mixed_new_pages(pk: int) -> int:
    return 2000 + pk


def mixed_new_stars(pk: int) -> int:
    return 100 + pk


def mixed_new_authors() -> list[tuple[str, str]]:
    return [(f"new author {n}", f"newauthor{n}@example.com") for n in range(MIXED_NEW["authors"])]


def mixed_new_books() -> list[tuple[str, int, date, int | None, int | None]]:
    """``(title, pages, published, new author index, existing author pk)``: the first
    five new books belong to the new authors, the others to loaded authors 1..5."""
    new_authors = MIXED_NEW["authors"]
    return [
        (
            f"new book {n}",
            50 + n,
            EPOCH,
            n if n < new_authors else None,
            None if n < new_authors else n - new_authors + 1,
        )
        for n in range(MIXED_NEW["books"])
    ]


def mixed_new_reviews() -> list[tuple[int, int]]:
    """``(new book index, stars)``."""
    books = MIXED_NEW["books"]
    return [(m % books, 50 + m) for m in range(MIXED_NEW["reviews"])]


def mixed_new_tags() -> list[tuple[int, str]]:
    """``(new book index, name)``."""
    return [(m, f"new tag {m}") for m in range(MIXED_NEW["tags"])]
