"""The scenarios: their sizes, the rows they start from, and what every contender must
leave in the database.

A scenario knows nothing of the contenders. Before each timed run the runner truncates
the tables and calls :meth:`Scenario.seed`; after it, each contender's ``check()`` calls
:meth:`Scenario.check`, which compares the database with the expected rows (counts,
values, foreign keys) and raises :class:`CheckFailed`, so a wrong answer never reports
a time.

``kind`` says what a run measures: ``"rows"`` (seconds for ``ops`` rows), ``"calls"``
(one operation repeated ``ops`` times, reported per call) or ``"memory"`` (bytes, from
the metrics ``run()`` returns).
"""

from __future__ import annotations

from bench import data


class CheckFailed(AssertionError):
    """A contender left the database (or its objects) other than the scenario expects."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_rows(name: str, actual: dict, expected: dict) -> None:
    """Compare ``{id: row}`` maps and name the first few differences."""
    if actual == expected:
        return
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(pk for pk in set(actual) & set(expected) if actual[pk] != expected[pk])
    details = []
    if missing:
        details.append(f"{len(missing)} missing (ids {missing[:5]})")
    if extra:
        details.append(f"{len(extra)} unexpected (ids {extra[:5]})")
    if wrong:
        pk = wrong[0]
        details.append(f"{len(wrong)} wrong, e.g. id {pk}: {actual[pk]!r} != {expected[pk]!r}")
    raise CheckFailed(f"{name}: {'; '.join(details)}")


class Scenario:
    name = ""
    #: One line for the report; formatted with the sizes.
    title = ""
    kind = "rows"
    #: Sizes at ``--scale 1`` and with ``--quick``; ``--scale`` multiplies those in ``scaled``.
    sizes_full: dict = {}
    sizes_quick: dict = {}
    scaled: tuple = ()
    #: Repeats when this scenario's measurement does not vary from run to run (None: --repeat).
    repeat: int | None = None

    def sizes(self, scale: int = 1, quick: bool = False) -> dict:
        sizes = dict(self.sizes_quick if quick else self.sizes_full)
        for key in self.scaled:
            sizes[key] *= scale
        return sizes

    def ops(self, sizes: dict) -> int:
        """Rows (or calls) one run handles, for rows/s."""
        raise NotImplementedError

    def seed(self, env, sizes: dict) -> None:
        """Fill the freshly truncated tables (untimed)."""

    def check(self, env, sizes: dict) -> None:
        """Raise :class:`CheckFailed` unless the database holds what a correct run leaves."""


def seed_graph(env, authors: int, books: int) -> None:
    """Authors and books as ``data`` defines them, primary keys from 1."""
    env.copy_rows(
        "bench_author",
        ("id", "name", "email"),
        ((i + 1, *row) for i, row in enumerate(data.authors(authors))),
    )
    env.copy_rows(
        "bench_book",
        ("id", "title", "pages", "published", "author_id"),
        (
            (j + 1, title, pages, published, author + 1)
            for j, (title, pages, published, author) in enumerate(data.books(books, authors))
        ),
    )


def expected_books(sizes: dict, pages=None) -> dict:
    """``{title: (pages, published, author name)}`` for the graph of ``sizes``."""
    names = [name for name, _email in data.authors(sizes["authors"])]
    return {
        title: (pages(j + 1) if pages else p, published, names[author])
        for j, (title, p, published, author) in enumerate(data.books(sizes["books"], len(names)))
    }


def actual_books(env) -> dict:
    rows = env.sql(
        "SELECT b.title, b.pages, b.published, a.name FROM bench_book b "
        "JOIN bench_author a ON a.id = b.author_id"
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def check_graph(env, sizes: dict, pages=None) -> None:
    """Authors and books hold exactly the graph's values, each book its author."""
    expected_authors = dict(data.authors(sizes["authors"]))
    actual_authors = dict(env.sql("SELECT name, email FROM bench_author"))
    expect(
        env.count("bench_author") == len(expected_authors),
        f"{env.count('bench_author')} authors, expected {len(expected_authors)}",
    )
    expect_rows("authors", actual_authors, expected_authors)
    expect(
        env.count("bench_book") == sizes["books"],
        f"{env.count('bench_book')} books, expected {sizes['books']}",
    )
    if pages is None:
        expect_rows("books (by title)", actual_books(env), expected_books(sizes))
    else:
        # Seeded with primary keys 1..n: book j has pk j + 1, so pages follow the pk.
        actual = {
            pk: (title, p, pub, name)
            for pk, title, p, pub, name in env.sql(
                "SELECT b.id, b.title, b.pages, b.published, a.name FROM bench_book b "
                "JOIN bench_author a ON a.id = b.author_id"
            )
        }
        expected = {
            j + 1: (title, *rest)
            for j, (title, rest) in enumerate(expected_books(sizes, pages).items())
        }
        expect_rows("books (by id)", actual, expected)


class BookScenario(Scenario):
    """A scenario over authors and their books: sized by both, one op per book, the
    rows seeded before the run (seed_graph) unless the run is what inserts them."""

    sizes_full = {"authors": 1000, "books": 10000}
    sizes_quick = {"authors": 10, "books": 100}
    scaled = ("authors", "books")

    def ops(self, sizes):
        return sizes["books"]

    def seed(self, env, sizes):
        seed_graph(env, sizes["authors"], sizes["books"])


class InsertGraph(BookScenario):
    name = "insert_graph"
    title = "{authors:,} new authors and {books:,} new books that reference them, one transaction"

    def ops(self, sizes):
        return sizes["authors"] + sizes["books"]

    def seed(self, env, sizes):
        pass  # the run inserts every row: nothing to seed

    def check(self, env, sizes):
        check_graph(env, sizes)


class Update(BookScenario):
    name = "update"
    title = "{books:,} loaded books each get a different pages, one transaction"

    def check(self, env, sizes):
        check_graph(env, sizes, pages=data.updated_pages)


class Delete(BookScenario):
    name = "delete"
    title = "{books:,} loaded books deleted (their authors stay), one transaction"

    def check(self, env, sizes):
        expect(env.count("bench_book") == 0, f"{env.count('bench_book')} books left")
        expect(
            env.count("bench_author") == sizes["authors"],
            f"{env.count('bench_author')} authors, expected {sizes['authors']}",
        )


class Mixed(Scenario):
    name = "mixed"
    title = "one request: 50 inserts, 200 updates, 20 deletes over Author, Book, Review, Tag"
    sizes_full = dict(data.MIXED_SEED)
    sizes_quick = dict(data.MIXED_SEED)

    def ops(self, sizes):
        return data.MIXED_OPS

    def seed(self, env, sizes):
        seed_graph(env, sizes["authors"], sizes["books"])
        env.copy_rows(
            "bench_review",
            ("id", "book_id", "stars"),
            ((k + 1, *data.review_row(k, sizes["books"])) for k in range(sizes["reviews"])),
        )
        env.copy_rows(
            "bench_tag",
            ("id", "book_id", "name"),
            ((k + 1, *data.tag_row(k, sizes["books"])) for k in range(sizes["tags"])),
        )

    def check(self, env, sizes):
        seeded = sizes["authors"], sizes["books"], sizes["reviews"], sizes["tags"]
        n_authors, n_books, n_reviews, n_tags = seeded
        new = data.MIXED_NEW

        authors = {i + 1: row for i, row in enumerate(data.authors(n_authors))}
        for pk in data.MIXED_UPDATED["authors"]:
            authors[pk] = (authors[pk][0], data.mixed_new_email(pk))
        actual = env.rows("bench_author", "name, email")
        expect_rows("old authors", {pk: actual.get(pk) for pk in authors}, authors)
        expect(len(actual) == n_authors + new["authors"], f"{len(actual)} authors")
        added = sorted(row for pk, row in actual.items() if pk > n_authors)
        expect(added == sorted(data.mixed_new_authors()), f"new authors {added[:3]}...")

        books = {
            j + 1: (title, pages, author + 1)
            for j, (title, pages, _published, author) in enumerate(data.books(n_books, n_authors))
        }
        for pk in data.MIXED_UPDATED["books"]:
            books[pk] = (books[pk][0], data.mixed_new_pages(pk), books[pk][2])
        actual = env.rows("bench_book", "title, pages, author_id")
        expect_rows("old books", {pk: actual.get(pk) for pk in books}, books)
        expect(len(actual) == n_books + new["books"], f"{len(actual)} books")
        new_books = dict(
            env.sql(
                "SELECT b.title, a.name FROM bench_book b JOIN bench_author a "
                "ON a.id = b.author_id WHERE b.id > %s",
                [n_books],
            )
        )
        new_names = [name for name, _ in data.mixed_new_authors()]
        expected = {
            title: new_names[new_author] if new_author is not None else f"author {old - 1}"
            for title, _pages, _pub, new_author, old in data.mixed_new_books()
        }
        expect_rows("new books' authors", new_books, expected)

        reviews = {k + 1: data.review_row(k, n_books) for k in range(n_reviews)}
        for pk in data.MIXED_UPDATED["reviews"]:
            reviews[pk] = (reviews[pk][0], data.mixed_new_stars(pk))
        for pk in data.MIXED_DELETED["reviews"]:
            del reviews[pk]
        actual = env.rows("bench_review", "book_id, stars")
        old = {pk: row for pk, row in actual.items() if pk <= n_reviews}
        expect_rows("old reviews", old, reviews)
        titles = [row[0] for row in data.mixed_new_books()]
        self._expect_children(
            env, "bench_review", "stars", n_reviews, data.mixed_new_reviews(), titles
        )

        tags = {k + 1: data.tag_row(k, n_books) for k in range(n_tags)}
        for pk in data.MIXED_DELETED["tags"]:
            del tags[pk]
        actual = env.rows("bench_tag", "book_id, name")
        old = {pk: row for pk, row in actual.items() if pk <= n_tags}
        expect_rows("old tags", old, tags)
        self._expect_children(env, "bench_tag", "name", n_tags, data.mixed_new_tags(), titles)

    @staticmethod
    def _expect_children(env, table, column, seeded, rows, titles) -> None:
        """New children (ids past the seed) belong to the new books they were made for."""
        actual = sorted(
            env.sql(
                f"SELECT c.{column}, b.title FROM {table} c JOIN bench_book b "
                f"ON b.id = c.book_id WHERE c.id > %s",
                [seeded],
            )
        )
        expected = sorted((value, titles[book]) for book, value in rows)
        expect(actual == expected, f"new {table} rows: {actual[:3]}... != {expected[:3]}...")


class DirtyInLargeMap(Scenario):
    name = "dirty_in_large_map"
    title = (
        "flush of 1 changed book among {mapped:,} loaded vs among {small:,} "
        "({flushes:,} flushes per run)"
    )
    kind = "calls"
    sizes_full = {"mapped": 100_000, "small": 10, "flushes": 200}
    sizes_quick = {"mapped": 200, "small": 10, "flushes": 10}
    scaled = ("mapped",)

    def ops(self, sizes):
        return sizes["flushes"]

    def seed(self, env, sizes):
        seed_graph(env, max(1, sizes["mapped"] // 10), sizes["mapped"])


class GetHit(Scenario):
    name = "get_hit"
    title = "get() of a book by primary key, {mapped:,} books in the session"
    kind = "calls"
    # The identity-map contenders make `calls` lookups; the querying ones `query_calls`.
    sizes_full = {"mapped": 1000, "calls": 100_000, "query_calls": 2000}
    sizes_quick = {"mapped": 50, "calls": 500, "query_calls": 50}

    def ops(self, sizes):
        return sizes["calls"]

    def seed(self, env, sizes):
        seed_graph(env, max(1, sizes["mapped"] // 10), sizes["mapped"])


class Load(BookScenario):
    name = "load"
    title = "{books:,} books loaded as model objects"


class Memory(BookScenario):
    name = "memory"
    title = "{books:,} books loaded (tracemalloc): peak, retained while held, after dropped"
    kind = "memory"
    sizes_full = {"authors": 10_000, "books": 100_000}
    sizes_quick = {"authors": 50, "books": 500}
    repeat = 1  # allocation counts do not vary between runs


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        InsertGraph(),
        Update(),
        Delete(),
        Mixed(),
        DirtyInLargeMap(),
        GetHit(),
        Load(),
        Memory(),
    )
}
