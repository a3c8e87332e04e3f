"""Raw psycopg2, written by hand for this schema: ``execute_values`` with
``RETURNING``, ``UPDATE ... FROM (VALUES ...)``, ``DELETE ... = ANY``.

The best a developer does without an ORM: rows as tuples, keys copied by hand, no
objects, no signals, no cascade lookups (it knows there are no reviews or tags to
delete). ``PAGE_SIZE`` rows per statement.
"""

from __future__ import annotations

from psycopg2.extras import execute_values

from bench import data, measure
from bench.contenders import Case, contender
from bench.scenarios import expect

register = contender(
    "raw", "psycopg2: execute_values ... RETURNING / UPDATE ... FROM (VALUES ...) / = ANY"
)

#: Rows per statement; a larger page measured no faster on the 10,000-row scenarios.
PAGE_SIZE = 1000


class RawCase(Case):
    def teardown(self):
        self.env.raw.rollback()  # ends a failed run's transaction; a no-op after commit


@register("insert_graph")
class InsertGraph(RawCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.author_values = data.authors(sizes["authors"])
        self.book_values = data.books(sizes["books"], sizes["authors"])

    def run(self):
        conn = self.env.raw
        with conn.cursor() as cursor:
            authors = execute_values(
                cursor,
                "INSERT INTO bench_author (name, email) VALUES %s RETURNING id",
                self.author_values,
                page_size=PAGE_SIZE,
                fetch=True,
            )
            author_ids = [row[0] for row in authors]
            books = execute_values(
                cursor,
                "INSERT INTO bench_book (title, pages, published, author_id) VALUES %s "
                "RETURNING id",
                [
                    (title, pages, published, author_ids[author])
                    for title, pages, published, author in self.book_values
                ],
                page_size=PAGE_SIZE,
                fetch=True,
            )
        conn.commit()
        self.book_ids = [row[0] for row in books]

    def check(self):
        super().check()
        expect(len(set(self.book_ids)) == self.sizes["books"], "RETURNING gave too few keys")


def _load(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@register("update")
class Update(RawCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.rows = _load(self.env.raw, "SELECT id, pages FROM bench_book")

    def run(self):
        conn = self.env.raw
        with conn.cursor() as cursor:
            execute_values(
                cursor,
                "UPDATE bench_book AS b SET pages = v.pages FROM (VALUES %s) AS v (id, pages) "
                "WHERE b.id = v.id",
                [(pk, data.updated_pages(pk)) for pk, _pages in self.rows],
                page_size=PAGE_SIZE,
            )
        conn.commit()


@register("delete")
class Delete(RawCase):
    def setup(self, sizes):
        super().setup(sizes)
        self.rows = _load(self.env.raw, "SELECT id FROM bench_book")

    def run(self):
        conn = self.env.raw
        with conn.cursor() as cursor:
            cursor.execute("DELETE FROM bench_book WHERE id = ANY(%s)", [[r[0] for r in self.rows]])
        conn.commit()


@register("mixed")
class Mixed(RawCase):
    """Knows the loaded rows' keys (1..n, as the other contenders load them)."""

    def run(self):
        conn = self.env.raw
        with conn.cursor() as cursor:
            authors = execute_values(
                cursor,
                "INSERT INTO bench_author (name, email) VALUES %s RETURNING id",
                data.mixed_new_authors(),
                fetch=True,
            )
            books = execute_values(
                cursor,
                "INSERT INTO bench_book (title, pages, published, author_id) VALUES %s "
                "RETURNING id",
                [
                    (title, pages, published, authors[new][0] if new is not None else old)
                    for title, pages, published, new, old in data.mixed_new_books()
                ],
                fetch=True,
            )
            execute_values(
                cursor,
                "INSERT INTO bench_review (book_id, stars) VALUES %s",
                [(books[b][0], stars) for b, stars in data.mixed_new_reviews()],
            )
            execute_values(
                cursor,
                "INSERT INTO bench_tag (book_id, name) VALUES %s",
                [(books[b][0], name) for b, name in data.mixed_new_tags()],
            )
            execute_values(
                cursor,
                "UPDATE bench_author AS t SET email = v.email FROM (VALUES %s) AS v (id, email) "
                "WHERE t.id = v.id",
                [(pk, data.mixed_new_email(pk)) for pk in data.MIXED_UPDATED["authors"]],
            )
            execute_values(
                cursor,
                "UPDATE bench_book AS t SET pages = v.pages FROM (VALUES %s) AS v (id, pages) "
                "WHERE t.id = v.id",
                [(pk, data.mixed_new_pages(pk)) for pk in data.MIXED_UPDATED["books"]],
            )
            execute_values(
                cursor,
                "UPDATE bench_review AS t SET stars = v.stars FROM (VALUES %s) AS v (id, stars) "
                "WHERE t.id = v.id",
                [(pk, data.mixed_new_stars(pk)) for pk in data.MIXED_UPDATED["reviews"]],
            )
            cursor.execute(
                "DELETE FROM bench_review WHERE id = ANY(%s)", [list(data.MIXED_DELETED["reviews"])]
            )
            cursor.execute(
                "DELETE FROM bench_tag WHERE id = ANY(%s)", [list(data.MIXED_DELETED["tags"])]
            )
        conn.commit()


@register("load")
class Load(RawCase):
    """Tuples, not objects: the floor under every ORM's load."""

    def run(self):
        self.rows = _load(
            self.env.raw, "SELECT id, title, pages, published, author_id FROM bench_book"
        )
        self.env.raw.commit()

    def check(self):
        expect(len(self.rows) == self.sizes["books"], f"{len(self.rows)} rows loaded")
        for pk, title, *_rest in measure.sample(self.rows):
            expect(title == f"book {pk - 1}", f"row {pk}: title {title!r}")
